"""What a new operator tripped over in the first hour (issue 22), on the demo host (Pilot)."""

from __future__ import annotations

from tests.support.apps import app_until, demo_app
from tests.test_app_demo import DEMO_GUESTS, select, wait_rows
from tui.ui.compat import FooterKey
from tui.ui.widgets.footer import KeysFooter


def _footer(screen) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [
        (k.key, k.description)
        for k in screen.query_one(KeysFooter).query(FooterKey)
        if k.display and not k.has_class("-command-palette")
    ]


async def test_esc_after_a_filter_keeps_the_selected_guest() -> None:
    """htop keeps the row the filter left the cursor on; main put it back on the first row."""
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        select(app, "web-frontend")  # a row chosen before the filter
        await pilot.pause()
        await pilot.press("slash", *"db", "enter")
        await app_until(pilot, lambda: app.table.row_count == 1, "the filtered row")
        await pilot.press("escape")
        await app_until(pilot, lambda: app.table.row_count == len(DEMO_GUESTS), "every row")
        assert app.table.selected_sample().name == "db-primary"  # type: ignore[union-attr]
        # typed and cleared at once (Esc while typing): the same
        await pilot.press("slash", *"router", "escape")
        await app_until(pilot, lambda: app.table.row_count == len(DEMO_GUESTS), "every row")
        assert app.table.selected_sample().name == "router-lab"  # type: ignore[union-attr]


async def test_pause_key_reads_resume_on_a_paused_guest() -> None:
    app = demo_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        select(app, "build-runner")  # paused in the demo
        await app_until(pilot, lambda: ("p", "Resume") in _footer(app.main_screen), "p Resume")
        select(app, "web-frontend")
        await app_until(pilot, lambda: ("p", "Pause") in _footer(app.main_screen), "p Pause")
        select(app, "build-runner")
        await app_until(pilot, lambda: ("p", "Resume") in _footer(app.main_screen), "p Resume")
        await pilot.press("enter")
        await app_until(pilot, lambda: app.screen is not app.main_screen, "the detail screen")
        await app_until(pilot, lambda: ("p", "Resume") in _footer(app.screen), "detail p Resume")


async def test_footer_labels_shorten_before_they_go() -> None:
    """At 100 columns the main keys take their short labels (Shut, Off) before any loses it;
    z, w and Enter are in the footer."""
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        await app_until(pilot, lambda: len(_footer(app.main_screen)) > 10, "the footer")
        keys = dict(_footer(app.main_screen))
        assert {"enter", "w", "z"} <= set(keys), keys
        assert keys["h"] == "Shut" and keys["X"] == "Off" and keys["z"] == "Snap", keys
        labelled = [k for k, label in _footer(app.main_screen) if label]
        assert (
            labelled[: len(labelled)] == [k for k, _ in _footer(app.main_screen)][: len(labelled)]
        )  # only the last keys lose labels


async def test_not_known_is_a_dash_in_the_ip_and_uptime_cells() -> None:
    """A shut-off guest's Uptime is not "destroyed" and its IP is not blank: both are —."""
    app = demo_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        assert {"ip", "uptime"} <= {c.key for c in app.table.shown}
        off = next(g for g in app.fleet.guests() if g.name == "archive")
        await app_until(pilot, lambda: app.table.get_cell(off.key.row, "uptime").plain, "cell")
        assert app.table.get_cell(off.key.row, "uptime").plain.strip() == "—"
        assert app.table.get_cell(off.key.row, "ip").plain.strip() == "—"


async def test_event_log_grows_with_the_terminal_wraps_and_toasts_stay_off_it() -> None:
    """Issue 22, item 6: at 200x50 the log gets the rows the guests leave (it was 5 lines under
    ~30 empty table rows); a long line wraps; a toast is not drawn over the log."""
    from textual.widgets import RichLog
    from textual.widgets._toast import Toast

    app = demo_app()
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        log = app.main_screen.query_one("#events", RichLog)
        await app_until(pilot, lambda: log.outer_size.height > 20, "a tall event log")
        table = app.table
        await app_until(
            pilot, lambda: table.region.height >= table.row_count + 1, "every guest row", 5
        )
        assert table.region.bottom <= log.region.y  # every guest row above it
        assert log.outer_size.height > 20
        app.log_event("x" * 150 + " the end of a long line " + "y" * 150)
        await app_until(pilot, lambda: len(log.lines) >= 3, "the long line, wrapped")
        assert all(len(line.text) <= log.region.width for line in log.lines)
        app.notify("a toast", timeout=30)
        toast = await app_until(pilot, lambda: next(iter(app.screen.query(Toast)), None), "toast")
        await pilot.pause()
        assert not toast.region.overlaps(log.region), (toast.region, log.region)
    async with demo_app().run_test(size=(80, 24)) as pilot:  # 80x24: still every row first
        app = pilot.app
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        log = app.main_screen.query_one("#events", RichLog)
        table = app.table
        await app_until(
            pilot, lambda: table.region.height >= table.row_count + 1, "every guest row", 5
        )
        assert log.outer_size.height >= 3


async def test_rebinding_guest_destroy_rebinds_the_detail_screens_key_too() -> None:
    """Issue 22, item 7: one binding id for one action: [keymap] "guest.destroy" moves X on
    the guest detail screen as well (it left the detail screen's X as it was)."""
    from tui.config import Settings
    from tui.registry import BY_ID, keys_for, validate_keymap
    from tui.ui.screens.confirm import ConfirmScreen
    from tui.ui.screens.detail import GuestDetailScreen

    keymap = {"guest.destroy": "ctrl+x"}
    assert keys_for(BY_ID["detail.destroy"], keymap) == ("ctrl+x",)  # help shows the same
    assert validate_keymap(keymap) == []
    app = demo_app(settings=Settings(keymap=keymap))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        select(app, "db-primary")
        await pilot.pause()
        await pilot.press("enter")
        await app_until(pilot, lambda: isinstance(app.screen, GuestDetailScreen), "the detail")
        await pilot.press("X")  # the old key does nothing here either
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+x")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "force off?")
