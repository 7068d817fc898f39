"""Serial console and snapshots from the keys against real TCG guests (no OS): what kvmdeck
says when a guest has no serial device, read-only refusals, and the snapshots screen of a
qcow2 guest (empty tree, the new snapshot dialog's checks). The guest with a real OS
(tests/osguest) covers the rest."""

from __future__ import annotations

from typing import Any

import pytest

from testbed import bed
from tests.support.apps import app_until
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions, KvmDeckApp

pytestmark = pytest.mark.libvirtd


class Notes:
    def __init__(self, app: KvmDeckApp) -> None:
        self.texts: list[str] = []
        real = app.notify

        def notify(message: str, **kw: Any) -> None:
            self.texts.append(message)
            real(message, **kw)

        app.notify = notify  # type: ignore[method-assign]


async def select(pilot: Any, app: KvmDeckApp, name: str) -> None:
    g = await app_until(pilot, lambda: app.fleet.find(name), f"row {name}", 30, step=0.1)
    app.select_guest(g.key.row)
    await pilot.pause()


async def test_serial_console_of_a_guest_without_serial_says_so(guests: list[bed.Guest]) -> None:
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(140, 40)) as pilot:
        notes = Notes(app)
        await select(pilot, app, guests[0].name)
        await pilot.press("c")
        text = await app_until(
            pilot,
            lambda: next((t for t in notes.texts if "serial" in t), None),
            "a message",
            30,
            step=0.1,
        )
        assert f"{guests[0].name} has no serial console" in text
        assert "<serial type='pty'/>" in text
        assert any("serial console" in line for line in app.fleet.events)


async def test_readonly_refuses_serial_console_and_snapshot_changes(
    guests: list[bed.Guest],
) -> None:
    from tui.ui.screens.snapshots import NewSnapshotScreen, SnapshotsScreen

    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], readonly=True, vt_badge="KVM: test"))
    async with app.run_test(size=(140, 40)) as pilot:
        notes = Notes(app)
        await select(pilot, app, guests[1].name)
        await pilot.press("c")
        await pilot.pause()
        reason = "read-only: restart without --readonly to open a serial console"
        assert any(t.startswith(reason) for t in notes.texts), notes.texts
        await pilot.press("z")  # viewing snapshots stays available
        screen = await app_until(
            pilot,
            lambda: isinstance(app.screen, SnapshotsScreen) and app.screen.loads and app.screen,
            "the snapshots screen",
            30,
            step=0.1,
        )
        for key in ("n", "r", "d"):
            await pilot.press(key)
            await pilot.pause()
        assert not isinstance(app.screen, NewSnapshotScreen)
        assert any("to take snapshots" in t for t in notes.texts)
        assert any("to revert guests to snapshots" in t for t in notes.texts)
        assert any("to delete snapshots" in t for t in notes.texts)
        assert screen.busy == ""


async def test_snapshots_screen_of_a_qcow2_guest(guests: list[bed.Guest]) -> None:
    from textual.widgets import Checkbox, Input, Static

    from tui.ui.screens.snapshots import NONE_YET, NewSnapshotScreen, SnapshotsScreen

    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(140, 40)) as pilot:
        await select(pilot, app, guests[0].name)
        await pilot.press("z")
        screen = await app_until(
            pilot,
            lambda: isinstance(app.screen, SnapshotsScreen) and app.screen.loads and app.screen,
            "the snapshots screen",
            30,
            step=0.1,
        )
        assert screen.snaps is not None and screen.snaps.snapshots == ()
        assert screen.snaps.active and screen.snaps.blocked == ""
        assert NONE_YET in str(screen.query_one("#snap-facts", Static).content)
        await pilot.press("n")
        dialog = await app_until(
            pilot,
            lambda: isinstance(app.screen, NewSnapshotScreen) and app.screen,
            "dialog",
            10,
            step=0.1,
        )
        memory = dialog.query_one("#snap-memory", Checkbox)
        assert memory.value and memory.disabled  # the guest runs: with memory, the only kind
        await pilot.press("ctrl+t")  # from the name field, which has the focus
        await pilot.pause()
        assert memory.value  # no disk-only snapshot of a running guest: libvirt 9 refuses it
        assert "external files" in str(dialog.query_one("#snap-problem", Static).content)
        dialog.query_one("#snap-name", Input).value = "bad name"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, NewSnapshotScreen)  # refused, says why
        assert "only" in str(dialog.query_one("#snap-problem", Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
