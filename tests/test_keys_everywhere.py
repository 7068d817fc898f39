"""One rule for keys on every screen (issue 11, item 6), against the demo app.

Esc goes back or closes; ``q`` on a sub-screen goes back (it never quits from there) and on
the main screen quits; Esc on the main screen clears a filter (tests/test_app_demo.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.screen import Screen

from tests.test_app_demo import DEMO_GUESTS, FakeLauncher, demo_app, select, wait_rows
from tui.model.vt import VtReport
from tui.ui.app import KvmDeckApp
from tui.ui.screens.main import MainScreen


def _report() -> VtReport:
    return VtReport(
        checks=(),
        usable=True,
        mode="pvm",
        host_is_guest=True,
        nested_supported=None,
        basis="probe",
        notes=("a note",),
    )


async def _open_help(app: KvmDeckApp, pilot: Any) -> None:
    await pilot.press("question_mark")


async def _open_detail(app: KvmDeckApp, pilot: Any) -> None:
    await pilot.press("enter")


async def _open_usb(app: KvmDeckApp, pilot: Any) -> None:
    await pilot.press("u")


async def _open_doctor(app: KvmDeckApp, pilot: Any) -> None:
    app.vt.report = _report()
    await pilot.press("d")


async def _open_viewers(app: KvmDeckApp, pilot: Any) -> None:
    app.consoles.current = FakeLauncher([("db-primary", 4242)])
    await pilot.press("w")


async def _open_confirm(app: KvmDeckApp, pilot: Any) -> None:
    select(app, "db-primary")
    await pilot.pause()
    await pilot.press("X")


async def _open_picker(app: KvmDeckApp, pilot: Any) -> None:
    from tui.ui.screens.picker import GuestPicker

    app.push_screen(GuestPicker("Attach Evil[/] to", [("db[old]", "running")]))


async def _open_console_dialog(app: KvmDeckApp, pilot: Any) -> None:
    from tui.adapters.launch.instructions import ClientInstructions
    from tui.ui.screens.console import ClientCommandDialog

    ins = ClientInstructions("db-primary", (("With virt-viewer:", ("virt-viewer x",)),))
    app.push_screen(ClientCommandDialog(ins))


SCREENS: dict[str, tuple[Callable[..., Any], str]] = {
    "help": (_open_help, "HelpScreen"),
    "detail": (_open_detail, "GuestDetailScreen"),
    "usb": (_open_usb, "UsbScreen"),
    "doctor": (_open_doctor, "DoctorScreen"),
    "viewers": (_open_viewers, "ViewersScreen"),
    "confirm": (_open_confirm, "ConfirmScreen"),
    "picker": (_open_picker, "GuestPicker"),
    "console": (_open_console_dialog, "ClientCommandDialog"),
}


async def _wait_screen(pilot: Any, app: KvmDeckApp, name: str) -> Screen[Any]:
    for _ in range(60):
        await pilot.pause(0.05)
        if type(app.screen).__name__ == name:
            return app.screen
    raise AssertionError(f"{name} did not open; on top: {app.screen!r}")


@pytest.mark.parametrize("key", ["escape", "q"])
@pytest.mark.parametrize("where", list(SCREENS))
async def test_esc_and_q_go_back_never_quit(where: str, key: str) -> None:
    app = demo_app()
    opener, screen_name = SCREENS[where]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        for _ in range(2):  # twice: the screen can be opened again after going back
            await opener(app, pilot)
            await _wait_screen(pilot, app, screen_name)
            await pilot.press(key)
            await pilot.pause(0.1)
            assert isinstance(app.screen, MainScreen), f"{key} on {where}: {app.screen!r}"
            assert app.is_running and app.return_code is None
        names = {s.name for s in app.table.samples.values()}
        assert names == set(DEMO_GUESTS)
        assert app.table.samples and {s.state for s in app.table.samples.values()} >= {"running"}
