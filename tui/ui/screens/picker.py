"""Pick a guest (for a USB attach or a rule), with a "persistent" choice; for a rule also how
it names the device (``m``: by serial, by vendor:product, or by port alone).

The title (a device's names), the guest names and the match labels are plain text, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, OptionList, Static
from textual.widgets.option_list import Option

from tui.ui import actions
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe


@dataclass(frozen=True)
class Pick:
    guest: str
    persistent: bool
    match: str = ""  # a rule's way of naming the device ("serial", "ids", "port"); "" otherwise


class PersistentBox(Checkbox):
    """The "persistent" choice, its state readable without colour: ``X`` and "on", or an empty
    box and "off" (Textual's checkbox draws an X in both states and only recolours it)."""

    ON = "Persistent: on (also kept in the guest's saved config)"
    OFF = "Persistent: off (live only: gone when the guest stops)"

    def __init__(self, value: bool, *, id: str | None = None) -> None:
        super().__init__(self.OFF, value, id=id)
        self._show_state(value)

    def watch_value(self) -> None:
        super().watch_value()  # the "-on" class and the Changed message
        self._show_state(self.value)

    def _show_state(self, value: bool) -> None:
        self.BUTTON_INNER = "X" if value else " "
        self.label = Text(self.ON if value else self.OFF)


class GuestPicker(ModalScreen[Pick | None]):
    BINDINGS = actions.bindings("picker")
    DEFAULT_CSS = """
    GuestPicker { align: center middle; }
    GuestPicker > Vertical {
        width: 100%; max-width: 76; height: auto; max-height: 100%; border: thick $accent;
        background: $surface; padding: 0 1;
    }
    GuestPicker #picker-title { width: 1fr; height: auto; margin-bottom: 1; text-style: bold; }
    GuestPicker OptionList { height: auto; max-height: 16; }
    GuestPicker #picker-persistent { width: 1fr; border: none; padding: 0; margin-top: 1; }
    GuestPicker #picker-hint { color: $text-muted; width: 1fr; }
    GuestPicker #picker-match { width: 1fr; height: auto; }
    GuestPicker.-rule OptionList { max-height: 15; }
    """

    HINT = "Enter: pick the guest · Space: persistent on/off · Esc: cancel"
    MATCH_HINT = "Enter: pick the guest · Space: persistent · m: match by · Esc: cancel"

    def __init__(
        self,
        title: str,
        guests: list[tuple[str, str]],
        persistent: bool = False,
        matches: Sequence[tuple[str, str]] = (),
    ) -> None:
        """``matches``: (kind, label) ways a new rule may name the device, the first the
        default (only for a rule)."""
        super().__init__()
        self.title_text = title
        self.guests = guests
        self.persistent_default = persistent
        self.matches = list(matches)
        self.match_index = 0
        self.set_class(bool(self.matches), "-rule")  # one line more: a shorter guest list

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(terminal_safe(self.title_text)), id="picker-title"
            )  # device names: plain text
            yield OptionList(
                *[
                    Option(Text(terminal_safe(f"{name}  ({state})")), id=name)
                    for name, state in self.guests
                ],
                id="picker-guests",
            )
            yield PersistentBox(self.persistent_default, id="picker-persistent")
            if self.matches:
                yield Static(Text(self._match_text()), id="picker-match")
            yield Static(Text(self.MATCH_HINT if self.matches else self.HINT), id="picker-hint")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @property
    def persistent(self) -> bool:
        return self.query_one("#picker-persistent", Checkbox).value

    @property
    def match(self) -> str:
        return self.matches[self.match_index][0] if self.matches else ""

    def _match_text(self) -> str:
        return terminal_safe(f"Match: {self.matches[self.match_index][1]}")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Pick(str(event.option.id), self.persistent, self.match))

    def action_cycle_match(self) -> None:
        if not self.matches:
            self.notify("m chooses how a rule names the device (R on the USB screen).")
            return
        self.match_index = (self.match_index + 1) % len(self.matches)
        self.query_one("#picker-match", Static).update(Text(self._match_text()))

    def action_toggle_persistent(self) -> None:
        box = self.query_one("#picker-persistent", Checkbox)
        box.value = not box.value

    def action_cancel(self) -> None:
        self.dismiss(None)
