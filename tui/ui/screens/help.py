"""``?``: every key binding, from the bindings themselves (so a keymap change shows here)."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "kvmdeck watches this host and its guests. Rates are per second over the last refresh.\n"
    "'—' means libvirt does not report that figure (guest off, no balloon driver, test driver)."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-height: 90%; border: thick $accent; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(title="Keys", expand=True, show_edge=False)
        table.add_column("Key", style="bold cyan", no_wrap=True)
        table.add_column("Action")
        table.add_column("Binding id (for \\[keymap])", style="dim")
        for key, desc, bid in self.rows:
            table.add_row(key, desc, bid)
        with VerticalScroll():
            yield Static(INTRO, id="help-intro")
            yield Static(table, id="help-keys")


def binding_rows(
    bindings: list[Binding], display: Callable[[Binding], str] | None = None
) -> list[tuple[str, str, str]]:
    """(key, action, binding id) rows: kvmdeck's own bindings (those with an id) first."""
    rows = []
    for b in bindings:
        if not b.description:
            continue
        key = display(b) if display else (b.key_display or b.key)
        rows.append((key, b.description, b.id or ""))
    return sorted(rows, key=lambda r: r[2] == "")
