"""Messages posted to the UI's message pump."""

from __future__ import annotations

from textual.message import Message


class ViewerChanged(Message):
    def __init__(self, info: object) -> None:
        super().__init__()
        self.info = info
