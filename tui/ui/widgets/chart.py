"""A block chart that starts at zero and fills the width it is given (drawn at render time)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widget import Widget

from tui.ui.widgets.spark import chart_rows


class Chart(Widget):
    DEFAULT_CSS = """
    Chart { height: 3; width: 1fr; color: $accent; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: list[float] = []
        self._top: float | None = None
        self._floor = 0.0

    def set_data(self, data: Sequence[float], top: float | None = None, floor: float = 0.0) -> None:
        self._data, self._top, self._floor = list(data), top, floor
        self.refresh()

    def render(self) -> str:
        width = max(1, self.size.width)
        rows = max(1, self.size.height)
        return "\n".join(chart_rows(self._data, width, rows, top=self._top, floor=self._floor))
