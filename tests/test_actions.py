"""The action registry: one source for bindings, palette, help, read-only gating, [keymap] and
the README key table. Mostly tested directly; small Pilot apps check Textual 8.2.8's side."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.actions import parse as textual_parse
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.keys import Keys, _normalize_key_list
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from tui import keys, registry
from tui.config import Settings
from tui.registry import (
    ACTIONS,
    BY_ID,
    GROUPS,
    SCOPES,
    check,
    in_force,
    key_label,
    key_problem,
    mutating_action,
    normalize_key,
    parse_action,
    validate_keymap,
)
from tui.ui import actions

README = Path(__file__).resolve().parent.parent / "README.md"
MUTATING = {
    "guest.start",
    "guest.shutdown",
    "guest.reboot",
    "guest.pause",
    "guest.destroy",
    "guest.snapshot_marked",
    "detail.start",
    "detail.shutdown",
    "detail.reboot",
    "detail.pause",
    "detail.destroy",
    "usb.attach",
    "usb.detach",
    "usb.rule",
    "usb.forget_rule",
    "detail.spice_ready",
    "guest.serial",
    "detail.serial",
    "snapshots.create",
    "snapshots.revert",
    "snapshots.delete",
    "storage.pool_start",
    "storage.pool_stop",
    "storage.pool_autostart",
    "storage.pool_new",
    "storage.volume_new",
    "storage.volume_resize",
    "storage.volume_delete",
    "storage.upload",
    "storage.insert",
    "storage.eject",
    "networks.start",
    "networks.stop",
    "networks.autostart",
    "networks.new",
    # issue 21: provisioning
    "guest.create",
    "guest.clone",
    "guest.delete",
    "guest.edit",
    "guest.edit_xml",
    "create.default_pool",
}


# -- the registry itself ----------------------------------------------------------------------
def test_ids_unique_and_well_formed() -> None:
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))
    for a in ACTIONS:
        assert a.scope in SCOPES, a
        assert a.group in GROUPS, a
        assert a.keys and all(normalize_key(k) == k for k in a.keys), a
        assert all(key_problem(k) is None for k in a.keys), a
        assert a.title and a.description, a


def test_existing_ids_and_keys_kept() -> None:
    """Users' keymaps and muscle memory rely on these."""
    expected = {
        "help": "question_mark",
        "quit": "q",
        "guest.detail": "enter",
        "guest.start": "s",
        "guest.shutdown": "h",
        "guest.reboot": "r",
        "guest.pause": "p",
        "guest.destroy": "X",
        "guest.console": "v",
        "viewers": "w",
        "usb": "u",
        "doctor": "d",
        "filter": "slash",
        "sort.cpu": "P",
        "sort.mem": "M",
        "sort.name": "N",
        "sort.disk": "B",
        "sort.net": "T",
        "refresh.faster": "plus",
        "refresh.slower": "minus",
        "usb.attach": "a",
        "usb.detach": "d",
        "usb.rule": "R",
        "usb.forget_rule": "D",
        "usb.root_hubs": "r",
        "viewers.close": "x",
        "console.copy": "c",
        "confirm.yes": "y",
        "confirm.no": "n",
        "detail.back": "escape",
        "detail.start": "s",
        "detail.shutdown": "h",
        "detail.reboot": "r",
        "detail.pause": "p",
        "detail.destroy": "X",
        "detail.console": "v",
        "doctor.close": "escape",
        "help.close": "escape",
        "picker.cancel": "escape",
        "picker.persistent": "space",
        "console.dismiss": "escape",
        "viewers.dismiss": "escape",
        "viewers.refresh": "r",
        "usb.back": "escape",
    }
    for bid, key in expected.items():
        assert key in BY_ID[bid].keys, bid


def test_mutating_actions_and_refusals() -> None:
    assert {a.id for a in ACTIONS if a.mutating} == MUTATING
    assert BY_ID["guest.destroy"].confirm
    for bid in MUTATING:
        assert check(bid, readonly=False) is None
        reason = check(bid, readonly=True)
        assert reason is not None and reason.startswith("read-only: restart without --readonly")
    assert check("guest.start", True) == "read-only: restart without --readonly to start guests"
    assert check("guest.console", True) is None  # viewing stays available
    assert check("usb.rule", True) == "read-only: restart without --readonly to change USB rules"
    with pytest.raises(KeyError):
        check("guest.nope", False)


def test_default_keys_never_clash_on_a_screen() -> None:
    for scope in SCOPES:
        if scope == "global":
            continue
        seen: dict[str, str] = {}
        for a in in_force(scope):
            for key in a.keys:
                assert key not in seen, f"{scope}: {key} bound to {seen.get(key)} and {a.id}"
                seen[key] = a.id
    assert validate_keymap({}) == []


def test_action_strings_parse_like_textual() -> None:
    for a in ACTIONS:
        _ns, name, params = textual_parse(a.action)
        assert parse_action(a.action) == (name, params), a.action
    assert mutating_action("guest", ("start",)) is BY_ID["guest.start"]
    assert mutating_action("attach") is BY_ID["usb.attach"]
    assert mutating_action("console") is None


# -- key names: the same rules as Textual's ---------------------------------------------------
@pytest.mark.parametrize("char", [c for c in map(chr, range(33, 127)) if c != ","])
def test_normalize_key_matches_textual(char: str) -> None:
    assert normalize_key(char) == _normalize_key_list(char)
    assert key_problem(char) is None
    assert key_label(normalize_key(char)) == char


def test_named_keys_are_textual_keys() -> None:
    plain = {k.value for k in Keys if "+" not in k.value and not k.value.startswith("<")}
    plain.discard("ctrl-at")
    assert plain >= keys.NAMED_KEYS
    assert plain - keys.NAMED_KEYS == set()


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("esc", "did you mean 'escape'"),
        ("Ctrl+x", 'modifiers are lowercase: "ctrl+x"'),
        ("ctrl+X", 'lowercase: "ctrl+x"'),
        ("F5", 'lowercase: "f5"'),
        ("cmd+x", "'cmd' is not a modifier"),
        ("ctrl+", "names no key"),
        ("", "empty"),
        ("ctrl+banana", "'banana' is not a key name"),  # issue 22: was accepted, shown as ^🍌
        ("ctrl+slahs", "did you mean 'slash'"),
        ("euro_sign", "'euro_sign' is not a key name"),
    ],
)
def test_bad_key_names_say_the_fix(key: str, needle: str) -> None:
    problem = key_problem(key)
    assert problem is not None and needle in problem


@pytest.mark.parametrize(
    ("key", "label"),
    [("question_mark", "?"), ("ctrl+p", "Ctrl+P"), ("escape", "Esc"), ("f5", "F5"), ("X", "X")],
)
def test_key_labels(key: str, label: str) -> None:
    assert key_label(key) == label


# -- [keymap] validation ----------------------------------------------------------------------
def test_keymap_ok() -> None:
    assert validate_keymap({"guest.destroy": "ctrl+x", "help": "?,f1", "quit": "Q"}) == []


def test_keymap_unknown_id_lists_close_matches() -> None:
    (err,) = validate_keymap({"guest.destory": "ctrl+x"})
    assert "'guest.destory' is not a binding id" in err and "'guest.destroy'" in err
    (err,) = validate_keymap({"zzz": "x"})
    assert "'zzz' is not a binding id" in err


def test_keymap_refuses_an_unknown_key_name() -> None:
    (err,) = validate_keymap({"guest.destroy": "ctrl+banana"})
    assert "'guest.destroy'" in err and "'banana' is not a key name" in err


def test_keymap_bad_key_names_the_id() -> None:
    (err,) = validate_keymap({"guest.start": "Ctrl+s"})
    assert "'guest.start'" in err and '"ctrl+s"' in err
    (err,) = validate_keymap({"quit": "ctrl+q"})
    assert "ctrl+q" in err and "another key" in err


def test_keymap_clash_names_both_ids() -> None:
    (err,) = validate_keymap({"guest.start": "h"})
    assert "'guest.shutdown'" in err and "'guest.start'" in err and "(main)" in err
    # Swapping two keys is fine; the same key on two different screens is fine.
    assert validate_keymap({"guest.start": "h", "guest.shutdown": "s"}) == []
    assert validate_keymap({"usb.attach": "s"}) == []
    # A global key clashes on every screen it reaches.
    # (the detail screen's s is guest.start's too: one clash, reported once, issue 22)
    errs = validate_keymap({"help": "s"})
    main_err = errs[0]
    assert [e.split("(")[-1] for e in errs[1:]] == ["storage); give one of them another key.",
                                                    "networks); give one of them another key."]  # fmt: skip
    assert "'guest.start'" in main_err and "'help'" in main_err and "(main)" in main_err
    # A detail.* id of its own is named as such.
    (err,) = validate_keymap({"detail.start": "S"})
    assert "'detail.spice_ready'" in err and "'detail.start'" in err and "(guest detail)" in err


# -- generators ---------------------------------------------------------------------------------
def test_bindings_carry_ids_in_footer_order() -> None:
    main = actions.bindings("main")
    assert all(isinstance(b, Binding) and b.id in BY_ID for b in main)
    shown = [b.id for b in main if isinstance(b, Binding) and b.show]
    assert shown[:2] == ["help", "quit"]
    assert [b.id for b in main if isinstance(b, Binding)] == [
        a.id for a in registry.scope_actions("main")
    ]
    for scope in SCOPES:
        if scope in ("global", "help"):
            continue
        first = actions.bindings(scope)[0]
        assert isinstance(first, Binding) and first.id == "help", scope
    glob = {b.id: b for b in actions.bindings("global") if isinstance(b, Binding)}
    assert glob["palette"].priority and glob["quit.ctrl_c"].priority
    assert not glob["help"].priority  # "?" must still type into the filter box
    with pytest.raises(KeyError):
        actions.bindings("nowhere")


def test_screens_use_the_registry() -> None:
    """Every binding with an id anywhere in tui/ui is the registry's (keys, action)."""
    from tui.ui.screens import (
        confirm,
        console,
        detail,
        doctor,
        help,
        hostops,
        main,
        networks,
        picker,
        storage,
        usb,
    )

    classes: list[Any] = [
        main.MainScreen,
        detail.GuestDetailScreen,
        doctor.DoctorScreen,
        help.HelpScreen,
        confirm.ConfirmScreen,
        usb.UsbScreen,
        picker.GuestPicker,
        console.ClientCommandDialog,
        console.ViewersScreen,
        hostops.FormDialog,
        hostops.ChoiceDialog,
        storage.StorageScreen,
        networks.NetworksScreen,
    ]
    generated = {main.MainScreen, detail.GuestDetailScreen, doctor.DoctorScreen}
    generated |= {storage.StorageScreen, networks.NetworksScreen, hostops.FormDialog}
    generated |= {help.HelpScreen, confirm.ConfirmScreen}
    for cls in classes:
        for b in cls.BINDINGS:
            assert isinstance(b, Binding) and b.id in BY_ID, (cls, b)
            a = BY_ID[b.id]
            assert set(b.key.split(",")) <= set(a.keys), (cls, b)
            assert b.action == a.action, (cls, b)
        if cls in generated:
            ids = [b.id for b in cls.BINDINGS if isinstance(b, Binding)]
            scope = actions.scope_of(cls)
            assert scope is not None
            assert ids == [a.id for a in registry.scope_actions(scope)], cls


def test_palette_titles_are_readable() -> None:
    entries = actions.palette_entries(readonly=False)
    titles = {bid: title for title, bid, _h in entries}
    assert titles["guest.start"] == "Start guest  (s)"
    assert titles["help"] == "Help: every key  (?)"
    assert "palette" not in titles
    for title, _bid, help_text in entries:
        assert "action " not in title and "('" not in title and "[" not in title
        assert help_text
    # Only the actions that can run where the palette was opened.
    assert "usb.attach" not in titles
    usb = {bid for _t, bid, _h in actions.palette_entries(False, scopes=("global", "usb"))}
    assert "usb.attach" in usb and "guest.start" not in usb


def test_palette_readonly_says_why_and_shows_rebound_keys() -> None:
    entries = actions.palette_entries(readonly=True, keymap={"guest.start": "S"})
    start = next(e for e in entries if e[1] == "guest.start")
    assert start[0] == "Start guest  (S)  (read-only)"
    assert start[2] == "read-only: restart without --readonly to start guests"
    console = next(e for e in entries if e[1] == "guest.console")
    assert "(read-only)" not in console[0]


def test_help_rows_every_action_once_in_sections() -> None:
    sections = actions.help_rows("main")
    ids = [r.id for _g, rows in sections for r in rows]
    assert sorted(ids) == sorted(BY_ID)
    groups = [g for g, _rows in sections]
    assert groups[:2] == ["General", "Guests"]
    keys = {r.id: r.keys for _g, rows in sections for r in rows}
    assert keys["help.close"] == "Esc q ?"
    # Opened on the USB screen, USB comes first; rebinding shows the new key.
    usb = actions.help_rows("usb", {"usb.attach": "A"}, readonly=True)
    assert usb[0][0] == "USB"
    attach = next(r for r in usb[0][1] if r.id == "usb.attach")
    assert attach.keys == "A" and attach.refused and attach.where == "USB"


# -- Textual 8.2.8: greyed and refused with a reason ----------------------------------------
class _Main(Screen[None]):
    BINDINGS = actions.bindings("main")

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("guests")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return actions.check_state(action, parameters, self.app.readonly)  # type: ignore[attr-defined]

    def action_guest(self, verb: str) -> None:
        if actions.refuse(self.app, f"guest.{verb}"):
            return
        self.ran.append(verb)

    def action_console(self) -> None:
        self.ran.append("console")


class _Deck(App[None]):
    """The wiring the registry asks of the app: bindings, check_action, run_action."""

    BINDINGS = actions.bindings("global")

    def __init__(self, readonly: bool) -> None:
        super().__init__()
        self.readonly = readonly
        self.settings = Settings()  # the palette reads the keymap
        self.events: list[str] = []
        self.notes: list[str] = []

    def get_default_screen(self) -> Screen[None]:
        return _Main()

    async def run_action(self, action: Any, default_namespace: Any = None, namespaces: Any = None) -> bool:  # fmt: skip
        if isinstance(action, str) and actions.intercept(self, self.screen, action):
            return True
        return await super().run_action(action, default_namespace, namespaces)

    def log_event(self, text: str) -> None:
        self.events.append(text)

    def notify(self, message: str, **kw: Any) -> None:  # type: ignore[override]
        self.notes.append(message)

    def action_help(self) -> None:
        from tui.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())


async def test_readonly_key_is_greyed_and_says_why() -> None:
    app = _Deck(readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, _Main)
        active = screen.active_bindings
        assert active["s"].enabled is False and active["X"].enabled is False
        assert active["v"].enabled is True
        keys = {k.key: k.has_class("-disabled") for k in screen.query(FooterKey)}
        assert keys["s"] is True and keys["v"] is False
        await pilot.press("s", "X", "v")
        await pilot.pause()
        assert screen.ran == ["console"]
        reason = "read-only: restart without --readonly to start guests"
        assert app.notes[0] == reason
        assert app.events[0] == f"refused guest.start: {reason}"
        assert "force off guests" in app.notes[1]


async def test_writable_keys_run() -> None:
    app = _Deck(readonly=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "X")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, _Main) and screen.ran == ["start", "destroy"]
        assert app.notes == [] and app.events == []


async def test_footer_starts_with_help_and_quit_at_80_columns() -> None:
    app = _Deck(readonly=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        keys = [k for k in app.screen.query(FooterKey) if "-command-palette" not in k.classes]
        assert [k.key for k in keys[:2]] == ["question_mark", "q"]
        for k in keys[:2]:
            assert k.region.right <= 80 and k.region.width > 0


async def test_keymap_rebinds_generated_bindings() -> None:
    app = _Deck(readonly=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.set_keymap({"guest.start": "S"})
        await pilot.press("s", "S")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, _Main) and screen.ran == ["start"]


# -- help screen ----------------------------------------------------------------------------------
async def test_help_fits_80x24_lists_ids_and_closes() -> None:
    from tui.ui.screens.help import HelpScreen

    app = _Deck(readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        ids = {row[2] for row in help_screen.rows}
        assert ids == set(BY_ID)
        box = help_screen.query_one("#help-scroll")
        assert box.region.right <= 80 and box.region.bottom <= 24
        assert box.virtual_size.height > box.region.height  # it scrolls
        text = " ".join(str(s.render()) for s in help_screen.query(Static))
        assert "Select" not in text and "Page Left" not in text
        await pilot.press("pagedown")
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


# -- confirm dialog ---------------------------------------------------------------------------------
async def test_confirm_wraps_at_80_and_shows_names_literally() -> None:
    from tui.ui.screens.confirm import ConfirmScreen

    question = (
        "Force off 'db[old]'? This is like pulling the power cord: unsaved data in the guest "
        "is lost. Evil[/] [b]names[/b] stay as they are."
    )
    answers: list[bool | None] = []

    class One(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ConfirmScreen(question, yes_label="Force off"), answers.append)

    app = One()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#question", Static)
        assert isinstance(box.content, Text) and box.content.plain == question
        assert box.region.right <= 80 and box.region.height >= 2  # wrapped, not clipped
        await pilot.press("n")
        await pilot.pause()
        app.push_screen(ConfirmScreen(question), answers.append)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        app.push_screen(ConfirmScreen(question), answers.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert answers == [False, True, False]


# -- palette ----------------------------------------------------------------------------------------
class _PaletteDeck(_Deck):
    def __init__(self, readonly: bool) -> None:
        super().__init__(readonly)
        self.selected: list[str] = []

    def guest_choices(self) -> list[tuple[str, str]]:
        return [("db[old]", "h/1"), ("web", "h/2")]

    def select_guest(self, key: str) -> None:
        self.selected.append(key)


async def test_palette_lists_actions_and_guests_plainly() -> None:
    from tui.ui.commands import GuestCommands, guest_choices

    app = _PaletteDeck(readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert guest_choices(app) == [("db[old]", "h/1"), ("web", "h/2")]
        provider = GuestCommands(app.screen)
        commands = provider._commands()
        titles = [t for t, _cb, _h in commands]
        assert "Start guest  (s)  (read-only)" in titles
        assert "Go to guest db[old]" in titles
        assert any("SPICE console" in t for t in titles)
        hits = [hit async for hit in provider.search("db[o")]
        assert hits and hits[0].text == "Go to guest db[old]"
        assert str(hits[0].prompt) == "Go to guest db[old]"
        discovered = [hit async for hit in provider.discover()]
        assert len(discovered) == len(commands)
        # Choosing a refused action says why instead of running it.
        start = next(cb for t, cb, _h in commands if t.startswith("Start guest"))
        await start()  # type: ignore[misc]
        screen = app.screen
        assert isinstance(screen, _Main) and screen.ran == []
        assert app.notes == ["read-only: restart without --readonly to start guests"]
        go = next(cb for t, cb, _h in commands if t == "Go to guest db[old]")
        go()
        assert app.selected == ["h/1"]
        console = next(cb for t, cb, _h in commands if t.startswith("Open the SPICE console"))
        await console()  # type: ignore[misc]
        assert screen.ran == ["console"]


# -- README -----------------------------------------------------------------------------------------
def readme_keys() -> list[tuple[tuple[str, ...], str, str]]:
    """(key labels, where, binding id) of each row of the README's Keys table."""
    text = README.read_text()
    section = text.split("## Keys", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| Key ") or set(line) <= {"|", "-"}:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        key_cell, where, _what, bid = cells
        keys = tuple(re.findall(r"`([^`]+)`", key_cell))
        ids = re.findall(r"`([^`]+)`", bid)
        assert len(ids) == 1, f"one binding id per README row: {line}"
        rows.append((keys, where, ids[0]))
    return rows


def test_readme_key_table_is_the_registry() -> None:
    rows = readme_keys()
    expected = [(tuple(key_label(k) for k in a.keys), SCOPES[a.scope], a.id) for a in ACTIONS]
    assert sorted(rows, key=lambda r: r[2]) == sorted(expected, key=lambda r: r[2])


# -- the real app, demo driver ------------------------------------------------------------------
async def test_demo_question_mark_opens_help_with_guest_start() -> None:
    from tui.adapters.libvirt.connection import demo_uri
    from tui.cli.wiring import make_app
    from tui.ui.app import AppOptions
    from tui.ui.screens.help import HelpScreen

    app = make_app(AppOptions(uris=[demo_uri()], demo=True, vt_badge="KVM: test"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "guest.start" in {row[2] for row in app.screen.rows}
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_registry_palette_binding_replaces_textuals_and_rebinds() -> None:
    from textual.command import CommandPalette

    app = _Deck(readonly=False)
    async with app.run_test(size=(80, 24)) as pilot:
        palette = [b for _k, b in app._bindings if b.action.endswith("command_palette")]
        assert [b.id for b in palette] == ["palette"]  # Textual added none of its own
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await pilot.pause()
        app.set_keymap({"palette": "f2"})
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
