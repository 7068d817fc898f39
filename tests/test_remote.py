"""qemu+ssh:// for real: an sshd on 127.0.0.1, a throwaway key, the real libvirtd behind it."""

from __future__ import annotations

import pytest

from testbed import bed
from tests.support.apps import app_until
from tui.adapters.libvirt.connection import ConnectFailed, HostLink, LinkState
from tui.adapters.libvirt.session import HostSession
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions

pytestmark = [pytest.mark.libvirtd, pytest.mark.sshd]


def test_remote_session_polls_and_reports_host_figures(
    sshd: bed.Sshd, guests: list[bed.Guest]
) -> None:
    link = HostLink(sshd.uri)
    link.connect()
    try:
        s = HostSession(link, host_cpus=2)
        s.poll(("cpu", "mem"))
        result = s.poll(("cpu", "mem"))
        names = {g.name for g in result.samples}
        assert {g.name for g in guests} <= names
        remote = result.remote_host
        assert remote is not None and remote.cpus and remote.mem_total_kib
        assert remote.cpu_pct is not None and 0 <= remote.cpu_pct <= 100
    finally:
        link.close()


def test_ssh_without_key_says_needs_key_and_never_prompts(sshd: bed.Sshd) -> None:
    uri = f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?no_verify=1&keyfile=/nonexistent/key"
    link = HostLink(uri)
    with pytest.raises(ConnectFailed) as err:
        link.connect()
    assert "key or an agent" in str(err.value)
    assert link.state is LinkState.DOWN


async def test_two_hosts_one_down_does_not_block_the_other(
    sshd: bed.Sshd, guests: list[bed.Guest]
) -> None:
    bad = "qemu:///system?socket=/nonexistent/sock"
    app = make_app(AppOptions(uris=[sshd.uri, bad], vt_badge="KVM: test", refresh=0.5))
    async with app.run_test(size=(200, 50)) as pilot:

        def header() -> str:
            return str(app.query_one("#hosts").content)

        def ready() -> bool:  # the guests' rows, and the host figures of a later poll
            names = {s.name for s in app.table.samples.values()}
            return {g.name for g in guests} <= names and "via libvirt" in header()

        await app_until(pilot, ready, "the remote guests and the remote host's figures", 30)
        shown = header()
        assert "libvirtd is not running" in shown  # the down host says why
        assert "via libvirt" in shown  # the remote host's own figures
        ctls = list(app.controllers.values())
        assert ctls[0].state is LinkState.UP
        assert ctls[1].state in (LinkState.DOWN, LinkState.RECONNECTING)
