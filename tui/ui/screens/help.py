"""``?``: kvmdeck's keys, in sections, with their binding ids (for ``[keymap]``).

The rows come from the action registry (:func:`tui.ui.actions.help_rows`), so they show the
keys as ``[keymap]`` rebinds them and leave out Textual's own bindings. Fits 80x24 and scrolls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.ui import actions
from tui.ui.deck import deck_of
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

INTRO = (
    "kvmdeck watches this host and its guests. Rates are per second over the last refresh. "
    "'—' means libvirt does not report that figure (guest off, no balloon driver, test driver)."
)
KEYMAP_HINT = (
    'Rebind a key in config.toml: [keymap] maps a binding id to keys, e.g. "guest.destroy" = '
    '"ctrl+x". Ctrl+P: the command palette.'
)
CLOSE_HINT = "Esc q ? close · ↑ ↓ PgUp PgDn scroll"


def keys_table(sections: list[tuple[str, list[actions.HelpRow]]]) -> Group:
    """One table per section; every cell is plain text (never markup)."""
    parts: list[Text | Table] = []
    every = [r for _g, rows in sections for r in rows]
    key_width = max([7, *(len(r.keys) for r in every)])
    id_width = max([10, *(len(r.id) for r in every)])
    for group, rows in sections:
        table = Table(
            title=Text(group, style="bold"),
            title_justify="left",
            expand=True,
            show_edge=False,
            show_header=False,
            box=None,
            padding=(0, 1),
        )
        table.add_column("Key", style="bold cyan", no_wrap=True, width=key_width)
        table.add_column("Action", ratio=1)
        table.add_column("Binding id", style="dim", no_wrap=True, width=id_width)
        for row in rows:
            what = Text(row.title)
            if row.where:
                what.append(f"  ({row.where})", style="dim")
            if row.refused:
                what.append("  (read-only)", style="yellow")
            table.add_row(Text(terminal_safe(row.keys)), what, Text(row.id))  # keys: config
        parts.append(table)
        parts.append(Text(""))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = actions.bindings("help")
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 90; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen #help-intro { color: $text-muted; margin-bottom: 1; }
    HelpScreen #help-keymap { color: $text-muted; }
    HelpScreen > VerticalScroll { border-subtitle-color: $text-muted; }
    """

    def __init__(
        self,
        legacy_rows: object = None,
        *,
        scope: str | None = None,
        keymap: Mapping[str, str] | None = None,
        readonly: bool | None = None,
    ) -> None:
        """``scope``: the screen help was opened on (its sections first); ``keymap`` and
        ``readonly``: the app's (read from ``app.settings.keymap`` and ``app.readonly`` when
        not given). ``legacy_rows`` is ignored: the rows come from the registry."""
        super().__init__()
        self._scope = scope
        self._keymap = keymap
        self._readonly = readonly
        self.sections: list[tuple[str, list[actions.HelpRow]]] = []

    @property
    def rows(self) -> list[tuple[str, str, str]]:
        """(keys, title, binding id), every row of every section."""
        return [(r.keys, r.title, r.id) for _g, rows in self.sections for r in rows]

    def _help_context(self) -> tuple[str | None, Mapping[str, str] | None, bool]:
        app = self.app
        scope = self._scope
        if scope is None:
            below = [s for s in app.screen_stack if s is not self]
            scope = actions.scope_of(below[-1]) if below else None
        keymap = self._keymap
        if keymap is None:
            keymap = deck_of(self).settings.keymap
        readonly = self._readonly
        if readonly is None:
            readonly = deck_of(self).readonly
        return scope, keymap, readonly

    def compose(self) -> ComposeResult:
        self.sections = actions.help_rows(*self._help_context())
        with VerticalScroll(id="help-scroll") as box:
            box.border_title = "kvmdeck keys"
            box.border_subtitle = CLOSE_HINT
            yield Static(Text(INTRO), id="help-intro")
            yield Static(keys_table(self.sections), id="help-keys")
            yield Static(Text(KEYMAP_HINT), id="help-keymap")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).focus()


def binding_rows(
    bindings: list[Binding], display: Callable[[Binding], str] | None = None
) -> list[tuple[str, str, str]]:
    """Deprecated (the help screen reads the registry): (key, action, binding id) rows of
    the bindings that have an id. Kept until app.py stops calling it."""
    rows = []
    for b in bindings:
        if not b.description or not b.id:
            continue
        key = display(b) if display else (b.key_display or b.key)
        rows.append((key, b.description, b.id))
    return rows
