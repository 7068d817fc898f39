"""A yes/no question before anything destructive: y, n or Esc.

The question is plain text (guest and device names may hold ``[``: never markup) and wraps
inside a box that fits an 80-column terminal.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.ui import actions
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = actions.bindings("confirm")
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 100%; max-width: 72; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 1 2;
    }
    ConfirmScreen #question { width: 100%; height: auto; }
    ConfirmScreen Horizontal { height: auto; align: right middle; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(self, question: str, yes_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(terminal_safe(self.question, multiline=True)), id="question")
            with Horizontal():
                yield Button(Text("No (n)"), id="no")
                yield Button(Text(f"{self.yes_label} (y)"), id="yes", variant="error")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
