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
