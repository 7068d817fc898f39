"""Messages that say what happened, against a real libvirtd (issue 22, item 2).

libvirt returns from a shutdown or reboot call once the request is sent: the result line says
"requested", and "shut off" comes with the lifecycle event. A start's own RESUMED (libvirt 9
reports QEMU's ``cont`` before STARTED) is not logged as a resume. A reboot asks first.
"""

from __future__ import annotations

import pytest

from testbed import bed
from tests.support.apps import app_until
from tests.test_app_libvirtd import sample_by_name
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.widgets.display_doctor import DisplayDoctor

pytestmark = pytest.mark.libvirtd


def _notes(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


def _log(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [line.split(" ", 1)[1] for line in app.fleet.events]


async def test_results_say_what_happened(persistent_guest: bed.Guest) -> None:
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=1.0))
    name = persistent_guest.name
    async with app.run_test(size=(120, 40)) as pilot:
        await app_until(pilot, lambda: sample_by_name(app, name), "persistent guest row")
        key = next(k for k, s in app.table.samples.items() if s.name == name)
        app.select_guest(key)
        await pilot.pause()
        await pilot.press("s")
        await app_until(pilot, lambda: f"{name}: started" in _log(app), "the started event", 30)
        await app_until(pilot, lambda: f"{name} started" in _log(app), "the start's result", 10)
        ours = [x for x in _log(app) if x.startswith(name)]
        assert f"{name}: resumed" not in ours, ours  # the start's own cont, not a resume
        await app_until(pilot, lambda: sample_by_name(app, name).state == "running", "row", 10)
        # A reboot asks first; "no" sends nothing.
        await pilot.press("r")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "reboot?", 5)
        assert "may ignore it" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("n")
        await pilot.pause()
        assert not any("reboot" in x for x in _log(app))
        # ACPI shutdown (no OS here: nothing answers it): what was sent, not "done".
        app.guests.shutdown_grace_s = 600.0
        await pilot.press("h")
        requested = f"shutdown requested: {name}"
        await app_until(
            pilot, lambda: any(x.startswith(requested) for x in _log(app)), "requested", 10
        )
        assert any(n.startswith(requested) for n in _notes(app))
        assert not any("— done" in x for x in _log(app) + _notes(app))
        # Force off: the result and the event say it is off.
        await pilot.press("X")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "force off?", 5)
        await pilot.press("y")
        await app_until(
            pilot, lambda: f"{name}: shut off (forced off)" in _log(app), "shut off event", 20
        )
        assert f"{name} forced off" in _log(app)


async def test_display_doctor_knows_saved_from_live(persistent_guest: bed.Guest) -> None:
    """Issue 22, item 3: after S on a running guest the doctor says the devices wait for the
    next boot (not "fix: S" again), S says so too, and the password line is the CLI's on a
    read-write connection (not "not known")."""
    import io
    import json

    from tui.cli.doctor import run_guest
    from tui.ui.screens.detail import GuestDetailScreen
    from tui.ui.screens.spice_ready import SpiceReadyScreen

    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=1.0))
    name = persistent_guest.name
    async with app.run_test(size=(140, 60)) as pilot:
        await app_until(pilot, lambda: sample_by_name(app, name), "persistent guest row")
        key = next(k for k, s in app.table.samples.items() if s.name == name)
        app.select_guest(key)
        await pilot.pause()
        await pilot.press("s")
        await app_until(pilot, lambda: sample_by_name(app, name).state == "running", "running", 30)
        await pilot.press("enter")
        detail = await app_until(
            pilot, lambda: isinstance(app.screen, GuestDetailScreen) and app.screen, "detail"
        )

        def doctor() -> str:
            return detail.query_one("#display-doctor", DisplayDoctor).text.plain

        await app_until(pilot, lambda: "Password: none" in doctor(), "the password line", 15)
        assert "read-write connection" not in doctor()
        assert "Agent channel: none" in doctor()
        await pilot.press("S")
        await app_until(pilot, lambda: isinstance(app.screen, SpiceReadyScreen), "the diff", 15)
        await pilot.press("y")
        waiting = (
            "added to the saved config — takes effect at the next boot (shut down, then start)"
        )
        await app_until(pilot, lambda: waiting in doctor(), "the next-boot line", 20)
        text = doctor()
        assert "fix: S" not in text.split("Agent channel", 1)[1].split("\n", 2)[1], text
        await pilot.press("S")
        await app_until(
            pilot,
            lambda: any("takes effect at the next boot" in n for n in _notes(app)),
            "S: already in the saved config, at the next boot",
            15,
        )
        out = io.StringIO()
        run_guest(bed.SYSTEM_URI, name, True, out=out, env={})
        cli = {f["name"]: f for f in json.loads(out.getvalue())["findings"]}
        assert cli["Password"]["detail"] in doctor()
        assert waiting in cli["Agent channel"]["detail"]
