"""Memory figures without libvirt's balloon group (bench P2): the same numbers, fewer QMP calls.

On a local host the Mem and RSS columns come from the domain XML and /proc; the balloon group
(a QMP round trip per guest in libvirtd) is asked for only by the In-guest column, and once
every BALLOON_EVERY polls to follow balloon resizes.
"""

from __future__ import annotations

import libvirt
import pytest

from testbed import bed
from tui.adapters.libvirt.connection import HostLink
from tui.adapters.libvirt.session import BALLOON_EVERY, HostSession

pytestmark = pytest.mark.libvirtd

BALLOON = libvirt.VIR_DOMAIN_STATS_BALLOON


def test_memory_columns_without_the_balloon_group(guests: list[bed.Guest]) -> None:
    link = HostLink(bed.SYSTEM_URI)
    link.connect()
    try:
        session = HostSession(link, host_cpus=2)
        full = session.poll(("mem",))  # In-guest shows: libvirt's balloon group
        assert full.groups & BALLOON
        local = session.poll(("memsize",))
        assert not local.groups & BALLOON
        want = {s.name: s for s in full.samples}
        got = {s.name: s for s in local.samples}
        for g in guests:
            a, b = want[g.name], got[g.name]
            assert (b.mem_cur_kib, b.mem_max_kib) == (a.mem_cur_kib, a.mem_max_kib)
            assert a.rss_kib and b.rss_kib  # the same process, read a moment later
            assert abs(b.rss_kib - a.rss_kib) <= 0.2 * a.rss_kib
        asked = [bool(session.poll(("memsize",)).groups & BALLOON) for _ in range(BALLOON_EVERY)]
        assert asked.count(True) == 1  # a balloon resize shows within BALLOON_EVERY polls
        assert session.calls == 2 + BALLOON_EVERY  # one bulk call per poll, whatever the groups
    finally:
        link.close()
