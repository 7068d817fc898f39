"""Pick a guest (for a USB attach or a rule), with a "persistent" choice.

The title (a device's names) and the guest names are plain text, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Label, OptionList
from textual.widgets.option_list import Option

from tui.ui import actions


@dataclass(frozen=True)
class Pick:
    guest: str
    persistent: bool


class GuestPicker(ModalScreen[Pick | None]):
    BINDINGS = actions.bindings("picker")
    DEFAULT_CSS = """
    GuestPicker { align: center middle; }
    GuestPicker > Vertical {
        width: 70; height: auto; max-height: 80%; border: thick $accent;
        background: $surface; padding: 1 2;
    }
    GuestPicker OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, title: str, guests: list[tuple[str, str]], persistent: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.guests = guests
        self.persistent_default = persistent

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="picker-title", markup=False)
            yield OptionList(
                *[Option(Text(f"{name}  ({state})"), id=name) for name, state in self.guests],
                id="picker-guests",
            )
            yield Checkbox(
                "Persistent: also keep it in the guest's saved config",
                self.persistent_default,
                id="picker-persistent",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        persistent = self.query_one("#picker-persistent", Checkbox).value
        self.dismiss(Pick(str(event.option.id), persistent))

    def action_toggle_persistent(self) -> None:
        box = self.query_one("#picker-persistent", Checkbox)
        box.value = not box.value

    def action_cancel(self) -> None:
        self.dismiss(None)
