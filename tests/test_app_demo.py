"""The app against libvirt's test driver (the shipped demo XML): no daemon, no root."""

from __future__ import annotations

import pytest

from tests.support.apps import app_until, demo_app
from tui.cli.wiring import make_app
from tui.model.fleet import Change
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.help import HelpScreen

DEMO_GUESTS = {
    "web-frontend": "running",
    "db-primary": "running",
    "build-runner": "paused",
    "router-lab": "running",
    "archive": "shut off",
    "win11-desktop": "shut off",
}


async def wait_rows(pilot, app: KvmDeckApp, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if app.table.row_count >= n:
            return
        await pilot.pause(0.05)
    raise AssertionError(f"table has {app.table.row_count} rows, wanted {n}")


def names_states(app: KvmDeckApp) -> dict[str, str]:
    return {s.name: s.state for s in app.table.samples.values()}


async def test_demo_shows_guests_host_and_marker() -> None:
    app = demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        assert names_states(app) == DEMO_GUESTS
        header = str(app.query_one("#hosts").content)
        assert "DEMO" in header
        assert "demo.xml" in header and " up" in header
        # A guest that is off has no CPU figure: the table says "—", never 0.
        off = [k for k, s in app.table.samples.items() if s.state == "shut off"]
        assert off and all(str(app.table.get_cell(k, "cpu")).strip() == "—" for k in off)


async def test_help_lists_every_binding_and_quit() -> None:
    app = demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = {row[2] for row in app.screen.rows}
        assert {"guest.start", "guest.destroy", "help", "quit", "filter"} <= keys
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code in (0, None)


async def test_force_off_asks_first_and_no_keeps_guest() -> None:
    app = demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        app.select_guest(next(k for k, s in app.table.samples.items() if s.name == "web-frontend"))
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "web-frontend" in app.screen.question
        await pilot.press("n")
        await pilot.pause(0.3)
        assert names_states(app)["web-frontend"] == "running"
        await pilot.press("X")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(100):
            if names_states(app)["web-frontend"] == "shut off":
                break
            await pilot.pause(0.05)
        assert names_states(app)["web-frontend"] == "shut off"


async def test_actions_update_rows_through_events() -> None:
    app = demo_app(refresh=60.0)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        app.select_guest(next(k for k, s in app.table.samples.items() if s.name == "archive"))
        await pilot.press("s")
        for _ in range(100):
            if names_states(app)["archive"] == "running":
                break
            await pilot.pause(0.05)
        assert names_states(app)["archive"] == "running"
        # The store has the event at once; the event log shows it with the next frame.
        await app_until(
            pilot, lambda: any("archive: started" in x for x in event_lines(app)), "log line", 5.0
        )


async def test_readonly_refuses_actions() -> None:
    app = demo_app(readonly=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        app.select_guest(next(k for k, s in app.table.samples.items() if s.name == "archive"))
        await pilot.press("s")
        await pilot.pause(0.5)
        assert names_states(app)["archive"] == "shut off"
        assert "READ-ONLY" in str(app.query_one("#hosts").content)
        active = app.screen.active_bindings
        assert active["s"].enabled is False and active["X"].enabled is False
        app.select_guest(next(k for k, s in app.table.samples.items() if s.name == "db-primary"))
        await pilot.pause()
        active = app.screen.active_bindings
        assert active["X"].enabled is False  # read-only, though db-primary runs
        assert active["v"].enabled is True  # viewing stays available


async def test_filter_and_sort_keep_selection() -> None:
    app = demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        key = next(k for k, s in app.table.samples.items() if s.name == "db-primary")
        app.select_guest(key)
        await pilot.press("N")  # name again: reverse
        await pilot.pause()
        assert app.table.selected_row() == key
        order = [app.table.samples[row].name for row in app.table.rows]
        assert order == sorted(DEMO_GUESTS, reverse=True)
        await pilot.press("slash")
        await pilot.press(*"web")
        await pilot.pause()
        assert app.table.row_count == 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.table.row_count == len(DEMO_GUESTS)


async def test_keymap_from_config_rebinds_a_key() -> None:
    from tui.config import Settings

    app = demo_app(settings=Settings(keymap={"guest.destroy": "ctrl+x"}))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        app.select_guest(next(k for k, s in app.table.samples.items() if s.name == "db-primary"))
        await pilot.press("X")  # the old key does nothing now
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)


async def test_command_palette_finds_guests_and_actions() -> None:
    from tui.ui.commands import GuestCommands

    app = demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        provider = GuestCommands(app.screen)
        titles = [title for title, _cb, _h in provider._commands()]
        assert "Go to guest db-primary" in titles
        assert any("SPICE console" in t for t in titles)
        hits = [hit async for hit in provider.search("db-prim")]
        assert hits and "db-primary" in str(hits[0].text)
        # Running the hit selects that guest.
        go = next(cb for t, cb, _h in provider._commands() if t == "Go to guest db-primary")
        go()  # type: ignore[operator]
        await pilot.pause()
        assert app.table.selected_sample().name == "db-primary"


async def test_enter_opens_guest_detail() -> None:
    from tui.ui.screens.detail import GuestDetailScreen

    app = demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        key = next(k for k, s in app.table.samples.items() if s.name == "db-primary")
        app.select_guest(key)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, GuestDetailScreen)
        assert app.screen.key.row == key and app.screen.title_text.startswith("db-primary")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, GuestDetailScreen)


async def test_a_failing_worker_is_reported_and_the_app_keeps_running() -> None:
    """Anything a worker raises goes to the one handler: a log line, and the app runs on."""
    app = demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))

        def boom() -> None:
            raise ValueError("invalid literal for int() with base 10: 'lots'")

        assert app.runner is not None
        app.runner.submit("parse guest XML", boom)
        for _ in range(50):
            lines = [str(x) for x in app.query_one("#events").lines]
            if any("parse guest XML failed: ValueError" in x for x in lines):
                break
            await pilot.pause(0.05)
        assert any("parse guest XML failed: ValueError" in x for x in lines)
        assert app.is_running and app.return_code is None
        await pilot.press("N")  # and it still answers keys
        await pilot.pause()
        assert app.errors.count == 1


ODD_NAMES = ["db[old]", "[prod]", 'web[link="x]', "a[bold]b"]  # libvirt refuses "/"


def odd_names_xml(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """The demo's node with guests renamed to names libvirt accepts and markup would eat."""
    import re
    from xml.sax.saxutils import escape

    from tui.adapters.libvirt.connection import demo_xml_path

    text = demo_xml_path().read_text()
    names = iter(ODD_NAMES)
    text = re.sub(
        r"<name>(web-frontend|db-primary|router-lab|archive)</name>",
        lambda m: f"<name>{escape(next(names))}</name>",
        text,
    )
    path = tmp_path / "odd.xml"
    path.write_text(text)
    return f"test://{path}"


def notes(app: KvmDeckApp) -> list:  # type: ignore[type-arg]
    """The notifications shown now (Textual 8.2.8 keeps them in ``App._notifications``)."""
    return list(app._notifications)


def event_lines(app: KvmDeckApp) -> list[str]:
    return [x.text.rstrip() for x in app.main_screen.query_one("#events").lines]


def select(app: KvmDeckApp, name: str) -> str:
    key = next(k for k, s in app.table.samples.items() if s.name == name)
    app.select_guest(key)
    return key


class FakeLauncher:
    """Stands in for the launcher (no remote-viewer): the viewers kvmdeck would have open."""

    def __init__(self, viewers: list[tuple[str, int]]) -> None:
        from types import SimpleNamespace

        connected = SimpleNamespace(value="connected")
        self._viewers = [
            SimpleNamespace(
                id=i,
                guest=g,
                title=g,
                pid=p,
                started=0.0,
                state=connected,
                detail="",
                connect_s=0.5,
                alive=True,
            )
            for i, (g, p) in enumerate(viewers)
        ]

    def viewers(self) -> list:  # type: ignore[type-arg]
        return list(self._viewers)

    def shutdown(self, keep_viewers: bool = False) -> None:
        pass


async def test_guest_names_are_plain_text_everywhere(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tui.model.fleet import PENDING_SHUTDOWN
    from tui.model.ids import GuestKey
    from tui.ui.screens.detail import GuestDetailScreen

    host_label = "lab[/]x[b]"
    app = make_app(
        AppOptions(
            uris=[odd_names_xml(tmp_path)],
            demo=True,
            vt_badge="KVM: test",
            host_labels=[host_label],
        )
    )
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        names = [app.table.get_row_at(i)[0] for i in range(app.table.row_count)]
        for name in ODD_NAMES:  # the name cells are Text, the names literally there
            assert any(cell.plain.startswith(name) for cell in names), name
        assert host_label in str(app.query_one("#hosts").content)
        # A viewer open on two of them: the marker, and v says so with the name as it is.
        app.consoles.current = FakeLauncher([("db[old]", 4242), ('web[link="x]', 4243)])
        app.changed(Change(hosts=frozenset(app.fleet.hosts)))
        await pilot.pause()
        for name in ODD_NAMES:
            key = select(app, name)
            state = app.table.samples[key].state
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, GuestDetailScreen)
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("X")
            await pilot.pause()
            if state == "running":
                assert isinstance(app.screen, ConfirmScreen)
                assert f"Force off '{name}'?" in app.screen.question
                await pilot.press("n")
                await pilot.pause()
                await pilot.press("s")  # refused: the reason names the guest literally
                await pilot.pause()
                said = f"{name} is already running"
            else:
                assert not isinstance(app.screen, ConfirmScreen)
                said = f"{name} is already shut off"
            assert any(n.message == said and not n.markup for n in notes(app)), said
            await app_until(
                pilot, lambda s=said: any(x.endswith(s) for x in event_lines(app)), said, 5.0
            )
        key = select(app, "db[old]")
        assert app.table.get_cell(key, "name").plain.endswith(" V")
        await pilot.press("v")
        await pilot.pause()
        said = "the console of db[old] is already open (remote-viewer, pid 4242); w lists it"
        assert any(n.message == said and not n.markup for n in notes(app))
        # "still running after the shutdown request": notification, log line and question.
        guest = app.fleet.find("[prod]")
        assert guest is not None
        app.changed(app.fleet.set_pending(guest.key, PENDING_SHUTDOWN, 0.0))
        await pilot.pause()
        app.guests.check_overdue()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question.startswith("[prod] is still running 60 s after")
        assert any("[prod] is still running" in n.message and not n.markup for n in notes(app))
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(guest.key, GuestKey) and app.is_running
        # Every notification that carries a guest or host name is plain text.
        for n in notes(app):
            if any(x in n.message for x in [*ODD_NAMES, host_label]):
                assert not n.markup, n.message


# -- state-aware keys -------------------------------------------------------------------------
def enabled(app: KvmDeckApp) -> dict[str, bool]:
    active = app.main_screen.active_bindings
    return {k: active[k].enabled for k in ("s", "h", "r", "p", "X", "v")}


async def test_keys_that_cannot_apply_are_greyed_and_say_why() -> None:
    from textual.widgets._footer import FooterKey

    app = demo_app(refresh=60.0)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        select(app, "web-frontend")
        await pilot.pause()
        assert enabled(app) == {"s": False, "h": True, "r": True, "p": True, "X": True, "v": True}
        footer: dict[str, bool] = {}
        for _ in range(50):  # the footer recomposes after the bindings change (next frame)
            footer = {
                k.key: k.has_class("-disabled")
                for k in app.main_screen.query(FooterKey)
                if k.display
            }
            if footer.get("s") is True and footer.get("h") is False:
                break
            await pilot.pause(0.05)
        assert footer["s"] is True and footer["h"] is False
        await pilot.press("s")
        await pilot.pause(0.3)
        assert [n.message for n in notes(app)] == ["web-frontend is already running"]
        said = "refused guest.start: web-frontend is already running"
        await app_until(pilot, lambda: any(x.endswith(said) for x in event_lines(app)), said, 5.0)
        assert names_states(app)["web-frontend"] == "running"

        select(app, "archive")
        await pilot.pause()
        assert enabled(app) == {
            "s": True,
            "h": False,
            "r": False,
            "p": False,
            "X": False,
            "v": False,
        }

        def greyed() -> dict[str, bool]:
            return {
                k.key: k.has_class("-disabled")
                for k in app.main_screen.query(FooterKey)
                if k.display
            }

        # the footer follows the cursor (it recomposes with the next frame, as above)
        await app_until(
            pilot, lambda: greyed().get("s") is False and greyed().get("X") is True, "footer", 5.0
        )
        for key, said in (
            ("X", "archive is already shut off"),
            ("h", "archive is shut off"),
            ("r", "archive is shut off: s starts it"),
            ("p", "archive is shut off"),
            ("v", "archive is shut off: s starts it"),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
            assert said in [n.message for n in notes(app)], key
            await app_until(
                pilot, lambda s=said: any(x.endswith(s) for x in event_lines(app)), said, 5.0
            )

        select(app, "build-runner")
        await pilot.pause()
        assert enabled(app) == {"s": False, "h": False, "r": False, "p": True, "X": True, "v": True}
        await pilot.press("s")
        await pilot.pause()
        assert "build-runner is paused: p resumes it" in [n.message for n in notes(app)]
        await pilot.press("p")  # resume is what p does on a paused guest
        await app_until(
            pilot, lambda: names_states(app)["build-runner"] == "running", "resume", 5.0
        )
        await pilot.pause()
        assert enabled(app)["s"] is False and enabled(app)["h"] is True
        log = "\n".join(event_lines(app))
        assert "failed" not in log  # no raw libvirt error anywhere


async def test_shutdown_marks_the_row_then_offers_force_off() -> None:
    from tui.model.fleet import PENDING_SHUTDOWN

    app = demo_app(refresh=60.0)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        # The test driver shuts down at once: the mark goes with the "stopped" event.
        key = select(app, "router-lab")
        await pilot.press("h")
        await pilot.pause()
        guest = app.fleet.find("router-lab")
        assert guest is not None
        await app_until(
            pilot, lambda: names_states(app)["router-lab"] == "shut off", "shut off", 5.0
        )
        assert guest.pending == "" and app.table.get_cell(key, "state").plain == "shut off"
        # A guest that ignores ACPI: marked "shutting down" until the deadline, then asked.
        app.guests.shutdown_grace_s = 3.0  # long enough for the h below on a loaded machine
        key = select(app, "web-frontend")
        web = app.fleet.find("web-frontend")
        assert web is not None
        app.changed(app.fleet.set_pending(web.key, PENDING_SHUTDOWN, 3.0))
        app.set_timer(3.05, app.guests.check_overdue)
        await pilot.pause()
        assert app.table.get_cell(key, "state").plain == "shutting down"
        assert enabled(app)["h"] is False and enabled(app)["X"] is True
        await pilot.press("h")
        await pilot.pause()
        said = "web-frontend is already shutting down: X forces it off"
        assert said in [n.message for n in notes(app)]
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question", 5.0)
        assert "web-frontend is still running 3 s after the shutdown request" in (
            app.screen.question  # type: ignore[attr-defined]
        )
        still = "web-frontend is still running 3 s after the shutdown request"
        await app_until(
            pilot, lambda: any(still in x for x in event_lines(app)), "the log line", 5.0
        )
        assert web.pending == ""
        await app_until(
            pilot, lambda: app.table.get_cell(key, "state").plain == "running", "row running", 5.0
        )
        await pilot.press("y")
        await app_until(pilot, lambda: names_states(app)["web-frontend"] == "shut off", "off", 5.0)


async def test_cursor_on_top_row_enter_home_end() -> None:
    from tui.ui.screens.detail import GuestDetailScreen

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        await pilot.pause()
        table = app.table
        assert table.cursor_row == 0
        first = str(table.get_row_at(0)[0])
        assert first.startswith("archive")  # by name: the top row, whatever the poll order
        assert set(table.visible_rows()) == set(range(len(DEMO_GUESTS)))  # every row shows
        await pilot.press("end")
        assert table.selected_sample().name == "win11-desktop"
        await pilot.press("home")
        assert table.selected_sample().name == "archive"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, GuestDetailScreen)
        assert app.screen.title_text.startswith("archive")


async def test_columns_follow_the_width_and_the_polls_follow_the_columns() -> None:
    from textual.widgets._footer import FooterKey

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        table = app.table
        keys = table.column_keys
        assert keys == ["name", "state", "cpu", "mem", "disk", "net"]
        assert table.virtual_size.width <= table.size.width  # no sideways scrolling
        await pilot.pause(0.2)
        shown = [k for k in app.main_screen.query(FooterKey) if k.display]
        assert [k.key for k in shown[:2]] == ["question_mark", "q"]
        assert all(k.region.right <= 80 for k in shown[:2])
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        keys = table.column_keys
        assert {"cpu", "mem", "disk", "net"} <= set(keys)
        assert table.virtual_size.width <= table.size.width
        assert app.main_screen.stat_columns() == ("cpu", "disk", "memsize", "net")
        await pilot.resize_terminal(60, 24)
        await pilot.pause()
        assert "net" not in app.main_screen.stat_columns()


async def test_footer_shows_the_keys_of_the_screen_on_top_only() -> None:
    from tui.ui.widgets.footer import KeysFooter

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        footer = app.main_screen.query_one(KeysFooter)
        select(app, "db-primary")
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and not footer.display
        await pilot.press("n")
        await pilot.pause()
        assert footer.display


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])  # 160: with the palette's key, docked
async def test_the_footer_follows_the_filter_box_in_the_keys_it_has(size: tuple[int, int]) -> None:
    """/ shows the filter's one key, Esc the main keys again; the footer updates the key
    widgets it has (hides those not needed) instead of mounting a dozen new ones each time."""
    from tui.ui.compat import FooterKey
    from tui.ui.widgets.footer import KeysFooter

    def shown(app: KvmDeckApp) -> list[tuple[str, str]]:
        keys = app.main_screen.query_one(KeysFooter).query(FooterKey)
        return [
            (k.key, k.description)
            for k in keys
            if k.display and not k.has_class("-command-palette")
        ]

    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        await app_until(pilot, lambda: len(shown(app)) > 5, "the main keys in the footer", 5.0)
        main_keys = shown(app)
        widgets = set(app.main_screen.query(FooterKey))
        await pilot.press("slash")
        await app_until(pilot, lambda: shown(app) == [("slash", "Filter")], "the filter's key", 5.0)
        await pilot.press("escape")
        await app_until(pilot, lambda: shown(app) == main_keys, "the main keys again", 5.0)
        assert set(app.main_screen.query(FooterKey)) == widgets
        assert dict(main_keys)["question_mark"] in ("Keys", "Help, all keys")


async def test_esc_clears_a_filter_typed_or_kept() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        await pilot.press("slash", *"db", "escape")
        await pilot.pause()
        assert app.table.row_count == len(DEMO_GUESTS)
        await pilot.press("slash", *"db", "enter")  # kept
        await pilot.pause()
        assert app.table.row_count == 1 and app.table.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert app.table.row_count == len(DEMO_GUESTS)
        await pilot.press("slash", *"q", "escape")  # q types into the box, it does not quit
        await pilot.pause()
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
