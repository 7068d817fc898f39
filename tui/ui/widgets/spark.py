"""Text sparklines and bars: cheap to render, fixed width."""

from __future__ import annotations

from collections.abc import Iterable

BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(
    values: Iterable[float], width: int, top: float | None = None, floor: float = 0.0
) -> str:
    """The last ``width`` values as block characters, scaled to ``top``, else to the largest
    value but never below ``floor`` (so a flat 2% line stays low instead of filling the cell).
    A value above zero shows at least the lowest block."""
    vals = list(values)[-width:]
    if not vals:
        return " " * width
    peak = top if top else max(max(vals), floor) or 1.0
    out = []
    for v in vals:
        frac = 0.0 if peak <= 0 else max(0.0, min(1.0, v / peak))
        idx = round(frac * (len(BLOCKS) - 1))
        if idx == 0 and v > 0:
            idx = 1
        out.append(BLOCKS[idx])
    return "".join(out).rjust(width)


def bar(fraction: float, width: int) -> str:
    """A bar of '|' characters, like htop."""
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    return "|" * filled + " " * (width - filled)


def chart_rows(
    values: Iterable[float], width: int, rows: int = 3, top: float | None = None, floor: float = 0.0
) -> list[str]:
    """A block chart ``rows`` lines tall (top line first), scaled like :func:`sparkline`.

    Unlike a min..max sparkline, a flat 2% line stays low: the scale starts at zero.
    """
    vals = list(values)[-width:]
    peak = top if top else max([*vals, floor]) or 1.0
    steps = rows * 8
    heights = [0 if v <= 0 else max(1, round(min(1.0, v / peak) * steps)) for v in vals]
    heights = [0] * (width - len(heights)) + heights
    lines = []
    for r in range(rows - 1, -1, -1):
        base = r * 8
        lines.append("".join(BLOCKS[max(0, min(8, h - base))] for h in heights))
    return lines
