"""Text sparklines and bars: cheap to render, fixed width."""

from __future__ import annotations

from collections.abc import Iterable

BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: Iterable[float], width: int, top: float | None = None) -> str:
    """The last ``width`` values as block characters, scaled to ``top`` (or the max)."""
    vals = list(values)[-width:]
    if not vals:
        return " " * width
    peak = top if top else max(vals) or 1.0
    out = []
    for v in vals:
        frac = 0.0 if peak <= 0 else max(0.0, min(1.0, v / peak))
        out.append(BLOCKS[round(frac * (len(BLOCKS) - 1))])
    return "".join(out).rjust(width)


def bar(fraction: float, width: int) -> str:
    """A bar of '|' characters, like htop."""
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    return "|" * filled + " " * (width - filled)
