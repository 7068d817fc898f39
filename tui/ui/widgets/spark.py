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


# -- the host panel's pieces: heat cells, compact rates ----------------------------------------
# Load bands for one CPU cell: (upper bound in %, style). A btop-like gradient that reads on a
# 16-colour terminal too; the glyph (block height) carries the level as well.
HEAT = (
    (2.0, "grey37"),
    (25.0, "green"),
    (50.0, "chartreuse3"),
    (75.0, "yellow"),
    (90.0, "dark_orange"),
    (101.0, "bold red"),
)


def heat_style(pct: float) -> str:
    """The colour of a CPU cell at ``pct`` percent busy."""
    for top, style in HEAT:
        if pct < top:
            return style
    return HEAT[-1][1]


def heat_char(pct: float) -> str:
    """One CPU as one character: a block whose height is its load (an idle CPU is a dot)."""
    if pct < 2.0:
        return "·"
    level = max(1, min(8, round(pct / 100 * 8)))
    return BLOCKS[level]


def heat_colour(pct: float) -> str:
    """The bare colour of a band (for half-block cells, where the colour is the only signal)."""
    return heat_style(pct).replace("bold ", "")


def compact_rate(value: float | None) -> str:
    """Bytes per second in at most 6 characters: '512B/s', '1.5K/s', '256K/s', '12M/s'.
    None -> '—' (not reported)."""
    if value is None:
        return "—"
    v = max(0.0, float(value))
    if v < 1000:
        return f"{int(v)}B/s"
    for unit in "KMGTP":
        v /= 1024
        if v < 9.95:
            return f"{v:.1f}{unit}/s"
        if v < 999.5:
            return f"{v:.0f}{unit}/s"
    return f"{v:.0f}P/s"  # pragma: no cover
