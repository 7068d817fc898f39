"""Messages posted to the UI's message pump."""

from __future__ import annotations

from textual.message import Message

from tui.model.viewers import ViewerInfo


class ViewerChanged(Message):
    def __init__(self, info: ViewerInfo) -> None:
        super().__init__()
        self.info = info
