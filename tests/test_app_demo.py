"""The app against libvirt's test driver (the shipped demo XML): no daemon, no root."""

from __future__ import annotations

from tui.adapters.libvirt.connection import demo_uri
from tui.cli.wiring import make_app
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


def demo_app(**kw: object) -> KvmDeckApp:
    return make_app(AppOptions(uris=[demo_uri()], demo=True, vt_badge="KVM: test", **kw))  # type: ignore[arg-type]


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
        # The test driver has no CPU/disk stats: the table says "—", never 0.
        cpu_cells = [app.table.get_cell(k, "cpu") for k in app.table.samples]
        assert all(str(c) == "—" for c in cpu_cells)


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
        log_text = "\n".join(str(line) for line in app.query_one("#events").lines)
        assert "archive: started" in log_text


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
        order = [app.table.samples[str(r.key.value)].name for r in app.table.ordered_rows]
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


async def test_guest_names_are_plain_text_everywhere(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tui.ui.screens.detail import GuestDetailScreen

    app = make_app(AppOptions(uris=[odd_names_xml(tmp_path)], demo=True, vt_badge="KVM: test"))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, len(DEMO_GUESTS))
        shown = {str(app.table.get_row_at(i)[0]) for i in range(app.table.row_count)}
        assert set(ODD_NAMES) <= shown
        for name in ODD_NAMES:
            key = next(k for k, s in app.table.samples.items() if s.name == name)
            app.select_guest(key)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, GuestDetailScreen)
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("X")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert f"Force off '{name}'?" in app.screen.question
            await pilot.press("n")
            await pilot.pause()
        assert app.is_running
