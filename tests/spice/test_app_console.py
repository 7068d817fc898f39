"""The real app: `v` on a SPICE guest opens a real remote-viewer; `w` lists it and closes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import bed
from tui.adapters.launch import ViewerState
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.console import ClientCommandDialog, ViewersScreen

pytestmark = [pytest.mark.libvirtd, pytest.mark.xvfb]


async def _select(pilot, app: KvmDeckApp, name: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(300):
        row = next((r for label, r in app.guest_choices() if label == name), None)
        if row:
            app.select_guest(row)
            return
        await pilot.pause(0.05)
    raise AssertionError(f"no row for {name}")


async def test_v_opens_viewer_and_w_closes_it(
    spice_guest: bed.Guest, display_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in ("DISPLAY", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(k, display_env[k])
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=5.0))
    async with app.run_test(size=(170, 45)) as pilot:
        await _select(pilot, app, spice_guest.name)
        await pilot.press("v")
        viewer = None
        for _ in range(300):
            viewers = app.consoles.launcher.viewers()
            if viewers and viewers[0].state is ViewerState.CONNECTED:
                viewer = viewers[0]
                break
            await pilot.pause(0.05)
        assert viewer is not None, f"viewer did not connect: {app.consoles.launcher.viewers()}"
        assert viewer.guest == spice_guest.name
        cmdline = Path(f"/proc/{viewer.pid}/cmdline").read_bytes()
        assert spice_guest.password and spice_guest.password.encode() not in cmdline
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, ViewersScreen)
        await pilot.press("x")
        for _ in range(100):
            if not Path(f"/proc/{viewer.pid}").exists():
                break
            await pilot.pause(0.05)
        assert not Path(f"/proc/{viewer.pid}").exists()


async def test_v_without_display_shows_the_client_command(
    spice_guest: bed.Guest, headless_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SSH_CONNECTION", headless_env["SSH_CONNECTION"])
    monkeypatch.setenv("XDG_RUNTIME_DIR", headless_env["XDG_RUNTIME_DIR"])
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=5.0))
    async with app.run_test(size=(170, 45)) as pilot:
        await _select(pilot, app, spice_guest.name)
        await pilot.press("v")
        for _ in range(200):
            if isinstance(app.screen, ClientCommandDialog):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, ClientCommandDialog)
        text = app.screen.instructions.text
        assert "192.0.2.10" in text  # the server address from $SSH_CONNECTION
        assert spice_guest.password and spice_guest.password not in text
        assert app.consoles.launcher.viewers() == []
