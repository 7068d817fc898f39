"""State-aware guest keys against a real libvirtd (issue 11, item 7), where the test driver
cannot show it: a guest that ignores ACPI (a TCG guest with no OS: SeaBIOS never answers the
power button), and refusals instead of libvirt's raw errors ("domain is already running")."""

from __future__ import annotations

import pytest

from testbed import bed
from tests.support.apps import app_until
from tests.test_app_libvirtd import sample_by_name
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions
from tui.ui.screens.confirm import ConfirmScreen

pytestmark = pytest.mark.libvirtd


def _notes(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


def _log(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(x.text for x in app.main_screen.query_one("#events").lines)


async def test_refusals_and_a_shutdown_the_guest_ignores(persistent_guest: bed.Guest) -> None:
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=1.0))
    name = persistent_guest.name
    async with app.run_test(size=(120, 40)) as pilot:
        await app_until(
            pilot, lambda: sample_by_name(app, name), "persistent guest row", 30.0, step=0.1
        )
        key = next(k for k, s in app.table.samples.items() if s.name == name)
        app.select_guest(key)
        await pilot.pause()
        # Shut off: the keys that need a running guest say why; libvirt is not asked.
        for press, said in (
            ("X", f"{name} is already shut off"),
            ("h", f"{name} is shut off"),
            ("p", f"{name} is shut off"),
            ("r", f"{name} is shut off: s starts it"),
        ):
            await pilot.press(press)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
            assert said in _notes(app), press
        await pilot.press("s")
        await app_until(
            pilot, lambda: sample_by_name(app, name).state == "running", "running", 30, step=0.1
        )
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert f"{name} is already running" in _notes(app)
        assert "failed" not in _log(app)  # no "domain is already running" from libvirt
        # ACPI shutdown of a guest with no OS: the row says so, then kvmdeck offers force off.
        app.guests.shutdown_grace_s = 4.0
        await pilot.press("h")
        await app_until(
            pilot,
            lambda: app.table.get_cell(key, "state").plain == "shutting down",
            "the row to say shutting down",
            10,
            step=0.1,
        )
        await pilot.press("h")
        await pilot.pause()
        assert f"{name} is already shutting down: X forces it off" in _notes(app)
        await app_until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), "force off?", 20, step=0.1
        )
        question = app.screen.question  # type: ignore[attr-defined]
        assert f"{name} is still running 4 s after the shutdown request" in question
        assert sample_by_name(app, name).state == "running"
        still = f"{name} is still running 4 s after the shutdown request"
        await app_until(pilot, lambda: still in _log(app), "the log line", 5, step=0.1)
        await pilot.press("y")
        await app_until(
            pilot, lambda: sample_by_name(app, name).state == "shut off", "off", 20, step=0.1
        )
        # the row follows the fleet on the next frame (changes render once per frame)
        await app_until(
            pilot,
            lambda: app.table.get_cell(key, "state").plain == "shut off",
            "row off",
            5,
            step=0.1,
        )
