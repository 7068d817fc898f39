"""kill -9 libvirtd, start it again: the app shows "reconnecting", recovers, and events still arrive.

Runs last and on its own (`pytest -m last`), because it restarts libvirtd. Outside CI it only
runs when this suite started libvirtd, or with KVMDECK_ALLOW_LIBVIRTD_RESTART=1.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from testbed import bed
from tui.adapters.libvirt.connection import LinkState
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions

pytestmark = [pytest.mark.libvirtd, pytest.mark.last]


def libvirtd_pid() -> int:
    out = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True).stdout.split()
    assert out, "libvirtd is not running"
    return int(out[0])


async def test_libvirtd_restart_reconnects_and_events_resume(libvirtd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not (
        bed.in_ci() or libvirtd.started_by_us or os.environ.get("KVMDECK_ALLOW_LIBVIRTD_RESTART")
    ):
        pytest.skip(
            "would restart a libvirtd this suite did not start (set KVMDECK_ALLOW_LIBVIRTD_RESTART=1)"
        )
    log_file = tmp_path / "kvmdeck.log"
    from tui.logsetup import setup_logging

    setup_logging(log_file)
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=60.0))
    seen_states: list[LinkState] = []
    async with app.run_test(size=(170, 45)) as pilot:
        for _ in range(100):  # the main screen starts the sources once it is mounted
            if app.controllers:
                break
            await pilot.pause(0.05)
        link = next(iter(app.controllers.values()))
        for _ in range(300):
            if link.state is LinkState.UP:
                break
            await pilot.pause(0.05)
        assert link.state is LinkState.UP
        generation = link.generation
        os.kill(libvirtd_pid(), signal.SIGKILL)
        for _ in range(300):
            seen_states.append(link.state)
            if link.state is LinkState.RECONNECTING:
                break
            await pilot.pause(0.05)
        assert LinkState.RECONNECTING in seen_states
        assert "reconnecting" in str(app.query_one("#hosts").content)
        subprocess.run(["/usr/sbin/libvirtd", "-d"], check=True)
        for _ in range(600):
            if link.state is LinkState.UP and link.generation > generation:
                break
            await pilot.pause(0.1)
        assert link.state is LinkState.UP and link.generation > generation
        # A lifecycle event after the reconnect still arrives (refresh is 60 s: no polling).
        conn, _ = bed.ensure_libvirtd()
        guest = bed.create_transient(conn, 0, tag="rc")
        try:
            for _ in range(300):
                lines = "\n".join(str(x) for x in app.query_one("#events").lines)
                if f"{guest.name}: started" in lines:
                    break
                await pilot.pause(0.05)
            assert f"{guest.name}: started" in lines
        finally:
            bed.remove(conn, guest)
            conn.close()
    setup_logging(None)
    text = log_file.read_text()
    assert "connection lost" in text or "reconnect" in text.lower()
