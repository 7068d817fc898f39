"""The host panel's CPU renderings: per-CPU meters in columns, a heat strip (one character
per CPU) and a dense strip (two CPUs per character)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text

from tui.model.host import HostSample
from tui.ui.widgets.host_items import (
    GAP,
    METER_BAR_MIN,
    Item,
    _pct_style,
    cpu_label,
    meter,
    meter_item,
)
from tui.ui.widgets.spark import heat_char, heat_colour, heat_style


# -- the CPUs ----------------------------------------------------------------------------------
def agg_item(s: HostSample) -> Item:
    return meter_item("CPU", s.cpu_total / 100, f"{s.cpu_total:5.1f}%", 6)


def meter_columns(n: int, width: int, label_w: int) -> tuple[int, int]:
    """(columns, rows) for ``n`` per-CPU meters in aligned columns at ``width``."""
    least = label_w + 2 + 6 + METER_BAR_MIN
    cols = max(1, min(n, (width + GAP) // (least + GAP)))
    rows = math.ceil(n / cols)
    return math.ceil(n / rows), rows


def meter_rows(per_cpu: Sequence[float], width: int) -> list[Text]:
    n = len(per_cpu)
    label_w = len(str(n - 1))
    cols, rows = meter_columns(n, width, label_w)
    col_w = (width - GAP * (cols - 1)) // cols
    lines = []
    for r in range(rows):
        line = Text()
        for c in range(cols):
            i = c * rows + r  # consecutive CPUs down a column, as htop does
            if i >= n:
                break
            if c:
                line.append(" " * GAP)
            pct = per_cpu[i]
            line.append_text(
                meter(cpu_label(i, label_w), pct / 100, f"{pct:5.1f}%", col_w, _pct_style(pct))
            )
        line.truncate(width)
        lines.append(line)
    return lines


def heat_shape(n: int, width: int, per_char: int) -> tuple[int, int, int]:
    """(label width, CPUs per line, lines) for a heat grid of ``n`` CPUs."""
    label_w = len(str(n - 1))
    cells = max(1, width - label_w - 1)
    lines = math.ceil(n / (cells * per_char))
    per_line = math.ceil(n / lines)  # balanced: the last line is not a stub
    return label_w, per_line, lines


def heat_rows(per_cpu: Sequence[float], width: int) -> list[Text]:
    """One character per CPU: block height and colour by load; each line starts with the
    number of its first CPU."""
    label_w, per_line, lines = heat_shape(len(per_cpu), width, 1)
    out = []
    for r in range(lines):
        start = r * per_line
        line = Text(f"{start:>{label_w}} ", style="dim")
        for pct in per_cpu[start : start + per_line]:
            line.append(heat_char(pct), style=heat_style(pct))
        line.truncate(width)
        out.append(line)
    return out


def heat_inline_item(per_cpu: Sequence[float]) -> Item:
    """The whole heat strip as one item, beside the aggregate meter (when it fits there)."""

    def draw(_w: int) -> Text:
        line = Text()
        for pct in per_cpu:
            line.append(heat_char(pct), style=heat_style(pct))
        return line

    return Item(len(per_cpu), draw, grow=0)


def dense_rows(per_cpu: Sequence[float], width: int) -> list[Text]:
    """Two CPUs per character: the upper half block is one CPU, the lower half the CPU one
    pixel row below (``per_line`` further on), each coloured by its load."""
    n = len(per_cpu)
    label_w, per_char_line, lines = heat_shape(n, width, 2)
    per_row = math.ceil(per_char_line / 2)  # CPUs per pixel row
    out = []
    for r in range(lines):
        top0, bottom0 = 2 * r * per_row, (2 * r + 1) * per_row
        line = Text(f"{top0:>{label_w}} ", style="dim")
        for c in range(per_row):
            top, bottom = top0 + c, bottom0 + c
            if top >= n:
                break
            if bottom < n:
                style = f"{heat_colour(per_cpu[top])} on {heat_colour(per_cpu[bottom])}"
            else:
                style = heat_colour(per_cpu[top])
            line.append("▀", style=style)
        line.truncate(width)
        out.append(line)
    return out
