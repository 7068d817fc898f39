"""A block chart that starts at zero and fills the width it is given (drawn at render time).

A gutter on the left carries the scale: the top of the chart (in the figure's unit: ``100%``,
``2.0G``, ``1.2M/s``) on the first line and ``0`` on the last, so the height of a bar can be read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widget import Widget

from tui.ui.widgets.spark import chart_rows


def _plain(value: float) -> str:
    return f"{value:g}"


def chart_peak(data: Sequence[float], width: int, top: float | None, floor: float) -> float:
    """The value the top line stands for: ``top``, else the largest of the last ``width``
    values but never below ``floor`` (the same rule as :func:`chart_rows`)."""
    vals = list(data)[-width:]
    return top if top else max([*vals, floor]) or 1.0


class Chart(Widget):
    DEFAULT_CSS = """
    Chart { height: 3; width: 1fr; color: $accent; }
    """

    GUTTER_MIN = 6  # "100%┤", "1.2M/s┤": the scale's labels are right-aligned in it

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: list[float] = []
        self._top: float | None = None
        self._floor = 0.0
        self._fmt: Callable[[float], str] = _plain

    def set_data(
        self,
        data: Sequence[float],
        top: float | None = None,
        floor: float = 0.0,
        fmt: Callable[[float], str] | None = None,
    ) -> None:
        """``fmt`` writes the scale's top value with its unit (``fmt_rate``, ``fmt_bytes`` …)."""
        self._data, self._top, self._floor = list(data), top, floor
        if fmt is not None:
            self._fmt = fmt
        self.refresh()

    def scale_label(self, width: int) -> str:
        return self._fmt(chart_peak(self._data, width, self._top, self._floor)).strip()

    def render(self) -> Text:
        total = max(1, self.size.width)
        rows = max(1, self.size.height)
        label = self.scale_label(total)
        gutter = max(self.GUTTER_MIN, len(label))
        if total <= gutter + 2:  # no room for a scale: the chart alone
            gutter = -1
        width = max(1, total - gutter - 1)
        lines = chart_rows(self._data, width, rows, top=self._top, floor=self._floor)
        out = Text(no_wrap=True, overflow="crop")
        for i, line in enumerate(lines):
            if i:
                out.append("\n")
            if gutter >= 0:
                if i == 0:
                    axis = f"{label:>{gutter}}┤"
                elif i == rows - 1:
                    axis = f"{'0':>{gutter}}┤"
                else:
                    axis = f"{'':>{gutter}}│"
                out.append(axis, style="dim")
            out.append(line)
        return out
