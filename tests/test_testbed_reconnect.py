"""The session's libvirtd connection survives libvirtd dropping it (testbed.bed.Reconnecting).

Real libvirtd: a connection that advertised keepalive (libvirtaio is registered in this
process by the app tests) and then left libvirtd's pings unanswered is closed by libvirtd after
30 s; here the fault proxy in front of libvirtd cuts it at once, the same closed socket."""

from __future__ import annotations

import libvirt
import pytest

from testbed import bed, faultproxy

pytestmark = pytest.mark.libvirtd


def test_a_dropped_connection_is_opened_again_for_the_next_call() -> None:
    bed.ensure_libvirtd()
    with faultproxy.running() as proxy:
        conn = libvirt.open(proxy.uri)
        live = bed.Reconnecting(conn, False)
        first = live.getLibVersion()
        proxy.cut()  # as libvirtd's keepalive would: the socket is closed under the client
        assert live.getLibVersion() == first  # made again, on a new connection
        assert live.conn is not conn
    with pytest.raises(libvirt.libvirtError, match=r"[Dd]omain not found|no domain"):
        live.lookupByName("kvmdeck-t-no-such-guest")  # other errors pass through
    live.conn.close()
