"""Every screen and dialog fits 80x24 and scrolls; the detail screen's keys act on its guest;
toasts come one at a time; what the screens say is true (the picker's state, OSC 52 copies)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Static
from textual.widgets._footer import FooterKey

from tests.snapshots.test_screens import fixed_app, inject, inject_usb
from tests.support import fixed
from tui.adapters.libvirt.connection import demo_uri
from tui.cli.wiring import make_app
from tui.model.ids import GuestKey
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.console import ClientCommandDialog, copy_message
from tui.ui.screens.detail import GuestDetailScreen
from tui.ui.screens.doctor import DoctorScreen
from tui.ui.screens.help import HelpScreen
from tui.ui.screens.picker import GuestPicker

SMALL = (80, 24)
DB_UUID = "6b1c0a3e-0d7e-4c1a-9e1b-000000000001"


def _inside(widget: Any, size: tuple[int, int] = SMALL) -> bool:
    r = widget.region
    return r.x >= 0 and r.y >= 0 and r.right <= size[0] and r.bottom <= size[1] and r.area > 0


def _footer_keys(screen: Any) -> list[str]:
    return [k.key for k in screen.query(FooterKey) if _inside(k)]


async def _select(pilot: Any, uuid: str) -> GuestKey:
    app: KvmDeckApp = pilot.app
    key = GuestKey(app.host_order[0], uuid)
    app.select_guest(key.row)
    await pilot.pause()
    return key


async def test_doctor_fits_and_scrolls_at_80x24() -> None:
    app = fixed_app()
    async with app.run_test(size=SMALL) as pilot:
        await inject(pilot)
        await pilot.press("d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        box = screen.query_one("#doctor-scroll", VerticalScroll)
        assert _inside(box) and box.max_scroll_y > 0  # it scrolls
        checks = screen.query_one("#doctor-checks", Static)
        lines = [checks.render_line(y).text.rstrip() for y in range(checks.size.height)]
        # Stacked: each check's title on its own line after the status, not in a 13-char column.
        assert any(line.split() == ["warn", "CPU", "virtualization", "flags"] for line in lines)
        assert any("fix: Nothing to do for PVM" in line for line in lines)
        assert "escape" in _footer_keys(screen)
        await pilot.press("pagedown", "end")
        await pilot.pause()
        assert box.scroll_y == box.max_scroll_y
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, DoctorScreen)


async def test_help_and_confirm_fit_with_their_own_footer() -> None:
    app = fixed_app()
    async with app.run_test(size=SMALL) as pilot:
        await inject(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert _inside(app.screen.query_one("#help-scroll"))
        assert _footer_keys(app.screen)[:1] == ["escape"]  # help's keys, not the main screen's
        await pilot.press("escape")
        await _select(pilot, DB_UUID)
        await pilot.press("X")
        await pilot.pause()
        question = app.screen.query_one("#question", Static)
        assert _inside(question) and "db-primary" in str(question.content)
        keys = _footer_keys(app.screen)
        assert "y" in keys and "n" in keys and "s" not in keys
        await pilot.press("n")


async def test_usb_screen_shows_owner_and_log_at_80x24() -> None:
    app = fixed_app()
    async with app.run_test(size=SMALL) as pilot:
        await inject_usb(pilot)
        await pilot.press("u")
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#usb-table")
        keys = [k for k, _label, _w in table.layout_shown]  # type: ignore[attr-defined]
        assert keys[-1] == "owner" and "speed" not in keys
        assert table.region.right <= 80
        rendered = "".join(table.render_line(y).text for y in range(table.size.height))
        assert "db-primary" in rendered  # the owner column is on screen
        for wid in ("#usb-rules", "#usb-log"):
            assert _inside(screen.query_one(wid)), wid
        assert screen.query_one("#usb-log").size.height >= 4
        shown = _footer_keys(screen)
        assert shown[:2] == ["question_mark", "escape"] and "r" in shown  # all of them


async def test_picker_fits_and_shows_its_state() -> None:
    app = fixed_app()
    async with app.run_test(size=SMALL) as pilot:
        await inject_usb(pilot)
        await pilot.press("u", "a")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, GuestPicker)
        box = picker.query_one("#picker-persistent", Checkbox)
        assert _inside(box) and _inside(picker.query_one("#picker-guests"))

        def shown() -> str:
            return box.render_line(0).text

        assert "off" in shown() and "X" not in shown()
        await pilot.press("space")
        await pilot.pause()
        assert box.value and "on" in shown() and "▐X▌" in shown()
        await pilot.press("space")
        await pilot.pause()
        assert not box.value and "▐ ▌" in shown()
        await pilot.press("escape")


async def test_detail_fits_full_uuid_scale_and_lifecycle_keys() -> None:
    app = fixed_app()
    async with app.run_test(size=SMALL) as pilot:
        await inject(pilot)
        key = await _select(pilot, fixed.WEB_UUID)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GuestDetailScreen) and screen.has_class("-narrow")
        summary = screen.query_one("#summary", Static)
        text = "\n".join(summary.render_line(y).text for y in range(summary.size.height))
        assert fixed.WEB_UUID in text
        cpu = screen.query_one("#chart-cpu")
        first = cpu.render_line(0).text
        assert first.lstrip().startswith("100%┤") and cpu.region.right <= 80
        assert "0┤" in cpu.render_line(cpu.size.height - 1).text
        shown = _footer_keys(screen)
        for k in ("escape", "s", "h", "r", "p", "X", "v"):
            assert k in shown, k
        # The keys act on the guest shown, by its key, even after the main screen's cursor
        # moved; and they leave the main screen's cursor where it is.
        calls: list[tuple[str, GuestKey, str]] = []
        main = app.main_screen

        def run(k: GuestKey, verb: str, action_id: str | None = None) -> None:
            calls.append((verb, k, action_id or ""))

        def console(k: GuestKey, action_id: str = "") -> None:
            calls.append(("console", k, action_id))

        app.guests.run = run  # type: ignore[method-assign]
        app.guests.console = console  # type: ignore[method-assign]
        db = GuestKey(key.host, DB_UUID)
        app.select_guest(db.row)
        await pilot.press("p", "h", "v")
        await pilot.pause()
        web = GuestKey(key.host, fixed.WEB_UUID)
        assert calls == [
            ("pause", web, "detail.pause"),
            ("shutdown", web, "detail.shutdown"),
            ("console", web, "detail.console"),
        ]
        selected = main.table.selected_guest()
        assert selected is not None and selected.key == db
        await pilot.press("pagedown")  # the body scrolls
        await pilot.pause()
        assert screen.query_one("#detail-body", VerticalScroll).scroll_y > 0


async def test_detail_keys_refused_under_readonly() -> None:
    app = make_app(
        AppOptions(uris=[demo_uri()], demo=True, live=False, vt_badge="KVM: PVM", readonly=True)
    )
    notes: list[str] = []
    real_notify = app.notify

    def notify(message: str, **kw: Any) -> None:
        notes.append(message)
        real_notify(message, **kw)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=SMALL) as pilot:
        await inject(pilot)
        await _select(pilot, fixed.WEB_UUID)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GuestDetailScreen)
        active = screen.active_bindings
        assert active["s"].enabled is False and active["X"].enabled is False
        await pilot.press("s")
        await pilot.pause()
        assert notes[-1] == "read-only: restart without --readonly to start guests"
        assert isinstance(app.screen, GuestDetailScreen)


async def test_toasts_one_at_a_time_and_short() -> None:
    app = fixed_app()
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await inject(pilot)
        app.notify("first")
        await pilot.pause()
        app.notify("second: Evil[/]", severity="error", timeout=60, markup=False)
        await pilot.pause()
        shown = list(app._notifications)
        assert [n.message for n in shown] == ["second: Evil[/]"]
        assert shown[0].timeout == app.NOTIFY_MAX_S["error"]
        app.notify("third")
        await pilot.pause()
        assert [n.timeout for n in app._notifications] == [app.NOTIFICATION_TIMEOUT]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TMUX": "/tmp/tmux-0/default,1,0"}, "set-clipboard on"),
        ({}, "OSC 52"),
    ],
)
def test_copy_says_what_is_true(env: dict[str, str], says: str) -> None:
    text = copy_message(env)
    assert says in text and "copied to the clipboard" not in text.lower()


async def test_console_dialog_fits_and_names_plainly() -> None:
    from tui.adapters.launch.instructions import ClientInstructions

    ins = ClientInstructions(
        'web[link="x]',
        (
            ("With virt-viewer (it asks for passwords itself):", ("virt-viewer --connect x y",)),
            ("Or with an ssh tunnel (leave it running), then remote-viewer:", ("ssh -N", "rv")),
        ),
        ("Read-only connection: if the console has a password, the viewer asks.",) * 4,
    )
    app = fixed_app()
    async with app.run_test(size=SMALL) as pilot:
        await inject(pilot)
        app.push_screen(ClientCommandDialog(ins))
        await pilot.pause()
        box = app.screen.query_one("#client-commands", VerticalScroll)
        assert _inside(box)
        title = app.screen.query_one(".title", Static)
        assert isinstance(title.content, Text) and 'web[link="x]' in title.content.plain
        assert _footer_keys(app.screen)[:2] == ["c", "escape"]
