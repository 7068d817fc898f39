"""The footer of kvmdeck's screens and dialogs: the keys of the screen it is on, nothing else.

Below :attr:`KeysFooter.WIDE` columns it goes compact and drops Textual's "^p Command palette"
hint (Ctrl+P still works, and help lists it). The keys come in the registry's priority order
(``?`` first), as every screen's ``BINDINGS`` do; when they still do not fit, the last ones lose
their labels (``c z S``) instead of being cut off: every key stays visible, ``?`` names them all.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


def _cells(key: FooterKey) -> int:
    """Columns a compact footer key takes: "k Label" and the gap after it."""
    label = len(key.description) + 1 if key.description else 0
    return len(key.key_display) + label + 1


class KeysFooter(Footer):
    WIDE = 140

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, show_command_palette=False, compact=True)
        self._width = 0

    def compose(self) -> ComposeResult:
        items = list(super().compose())
        width = self._width or self.app.size.width
        keys = [
            w for w in items if isinstance(w, FooterKey) and not w.has_class("-command-palette")
        ]
        total = sum(_cells(k) for k in keys)
        if self.compact:
            for key in reversed(keys):  # lowest priority first
                if total <= width:
                    break
                if key.description:
                    total -= len(key.description) + 1
                    key.description = ""
        yield from items

    def on_resize(self, event: Resize) -> None:
        width = event.size.width
        if width == self._width:
            return
        self._width = width
        wide = width >= self.WIDE
        self.compact = not wide
        self.show_command_palette = wide
        if self.is_mounted:
            self.call_after_refresh(self.recompose)
