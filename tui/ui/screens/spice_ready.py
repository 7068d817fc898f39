"""Make SPICE-ready: the XML diff of the guest's saved config, confirmed with y (n or Esc: no).

The diff scrolls (arrow keys, PgUp/PgDn, the mouse) inside a box that fits 80x24. Every line
of it is plain text (guest names and paths may hold ``[``); passwords are already redacted in
the plan (:func:`tui.adapters.libvirt.spice_ready.diff`).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.model.display import SpiceReadyPlan
from tui.ui import actions
from tui.util import terminal_safe


def diff_text(diff: str) -> Text:
    """The unified diff, added lines green, removed red, hunk headers dim (plain text)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for line in terminal_safe(diff, multiline=True).splitlines():  # the guest's XML
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "dim"
        else:
            style = ""
        text.append(line + "\n", style=style)
    text.rstrip()
    return text


def summary_text(plan: SpiceReadyPlan) -> Text:
    text = Text()
    text.append("Make ", style="bold")
    text.append(terminal_safe(plan.guest), style="bold")  # plain text, never markup
    text.append(" SPICE-ready: add to its saved config", style="bold")
    for item in plan.added:
        text.append(f"\n  + {terminal_safe(item)}")
    return text


def question_text(plan: SpiceReadyPlan) -> Text:
    return Text(f"Apply? It {plan.when}.  y: yes, n / Esc: no")


class SpiceReadyScreen(ModalScreen[bool]):
    BINDINGS = actions.bindings("confirm")
    DEFAULT_CSS = """
    SpiceReadyScreen { align: center middle; }
    SpiceReadyScreen > Vertical {
        width: 100%; max-width: 110; height: 100%; max-height: 40;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    SpiceReadyScreen #spice-ready-summary { height: auto; }
    SpiceReadyScreen #spice-ready-diff {
        height: 1fr; border: round $panel; border-title-color: $text-muted;
        scrollbar-size-vertical: 1;
    }
    SpiceReadyScreen #spice-ready-question { height: auto; }
    SpiceReadyScreen Horizontal { height: auto; align: right middle; }
    SpiceReadyScreen Button { margin-left: 2; }
    """

    def __init__(self, plan: SpiceReadyPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(id="spice-ready"):
            yield Static(summary_text(self.plan), id="spice-ready-summary")
            scroll = VerticalScroll(id="spice-ready-diff")
            scroll.border_title = "XML diff (↑ ↓ PgUp PgDn scroll)"
            with scroll:
                yield Static(diff_text(self.plan.diff), id="spice-ready-diff-text")
            yield Static(question_text(self.plan), id="spice-ready-question")
            with Horizontal():
                yield Button(Text("No (n)"), id="no")
                yield Button(Text("Apply (y)"), id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#spice-ready-diff", VerticalScroll).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
