"""Small rendering helpers: sparklines and bars."""

from __future__ import annotations

from tui.ui.widgets.spark import bar, sparkline


def test_sparkline_low_flat_line_stays_low_but_visible() -> None:
    line = sparkline([2.0] * 12, 12, floor=10.0)
    assert len(line) == 12
    assert set(line) == {"▂"}  # 2 of 10 → a low block, not a full cell, and not blank


def test_sparkline_scales_to_peak_and_pads() -> None:
    assert sparkline([0.0, 50.0, 100.0], 5, floor=10.0) == "   ▄█"  # left-padded to the width


def test_sparkline_zero_is_blank_and_empty_is_spaces() -> None:
    assert sparkline([0.0, 0.0], 2) == "  "
    assert sparkline([], 4) == "    "


def test_bar_clamps() -> None:
    assert bar(0.5, 10) == "|||||     "
    assert bar(2.0, 4) == "||||" and bar(-1.0, 4) == "    "


def test_chart_rows_start_at_zero() -> None:
    from tui.ui.widgets.spark import chart_rows

    rows = chart_rows([2.0, 50.0, 100.0], 4, rows=2, top=100.0)
    assert len(rows) == 2 and all(len(r) == 4 for r in rows)
    # bottom row: nothing, a low block for 2%, full for 50% and 100%
    assert rows[1] == " ▁██"
    # top row: only 100% reaches it fully; 50% is exactly the bottom row
    assert rows[0] == "   █"
