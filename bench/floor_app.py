"""The P1 floor: a bare Textual app with a 6-row DataTable whose numbers change every second.

Same column set and widths as kvmdeck's guest table, with every stat cell rewritten each tick.
Nothing else: no header, footer, host panel, libvirt or psutil. kvmdeck cannot draw that table
more cheaply than this, so its CPU over this one's is the overhead of everything else.

    .venv/bin/python -m bench.floor_app [--rows 6] [--refresh 1]
"""

from __future__ import annotations

import argparse
import random

from textual.app import App, ComposeResult
from textual.widgets import DataTable

COLUMNS: tuple[tuple[str, int], ...] = (
    ("Name", 22),
    ("State", 13),
    ("vCPU", 4),
    ("CPU%", 6),
    ("Host%", 6),
    ("CPU history", 12),
    ("Mem cur/max", 15),
    ("RSS", 7),
    ("In-guest", 8),
    ("Disk R", 9),
    ("Disk W", 9),
    ("Net RX", 9),
    ("Net TX", 9),
    ("Uptime", 11),
)
STAT_COLUMNS = tuple(name for name, _ in COLUMNS[3:])
BLOCKS = " ▁▂▃▄▅▆▇█"


class FloorApp(App[None]):
    def __init__(self, rows: int, refresh_s: float) -> None:
        super().__init__()
        self.n_rows = rows
        self.refresh_s = refresh_s
        self.tick = 0
        self.rng = random.Random(7)
        self.history: list[list[int]] = [[0] * 12 for _ in range(rows)]

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name, width in COLUMNS:
            table.add_column(name, width=width, key=name)
        for i in range(self.n_rows):
            table.add_row(f"floor-guest-{i}", "running", "1", *self._stats(i), key=f"row{i}")
        table.focus()
        self.set_interval(self.refresh_s, self._update)

    def _stats(self, i: int) -> list[str]:
        r = self.rng
        cpu = r.uniform(0, 100)
        self.history[i] = [*self.history[i][1:], round(cpu / 100 * 8)]
        spark = "".join(BLOCKS[v] for v in self.history[i])
        up = self.tick + 3600 * i
        return [
            f"{cpu:5.1f}%",
            f"{cpu / 2:5.1f}%",
            spark,
            f"{r.randint(80, 96)}.0M/96.0M",
            f"{r.randint(100, 200)}.0M",
            f"{r.randint(10, 90)}.0M",
            f"{r.randint(0, 999)}B/s",
            f"{r.randint(0, 999)}B/s",
            f"{r.randint(0, 999)}B/s",
            f"{r.randint(0, 999)}B/s",
            f"{up // 3600:02d}:{up // 60 % 60:02d}:{up % 60:02d}",
        ]

    def _update(self) -> None:
        self.tick += 1
        table = self.query_one(DataTable)
        for i in range(self.n_rows):
            for col, value in zip(STAT_COLUMNS, self._stats(i), strict=True):
                table.update_cell(f"row{i}", col, value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bare Textual DataTable floor for P1")
    parser.add_argument("--rows", type=int, default=6)
    parser.add_argument("--refresh", type=float, default=1.0)
    args = parser.parse_args(argv)
    FloorApp(args.rows, args.refresh).run()


if __name__ == "__main__":
    main()
