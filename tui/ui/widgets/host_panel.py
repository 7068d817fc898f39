"""The host panel: per-core CPU bars, memory, swap, load, uptime, disk and network rates."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.model.host import HostSample
from tui.model.rates import History as HostHistory
from tui.ui.widgets.spark import bar, sparkline
from tui.util import DASH, fmt_bytes, fmt_duration, fmt_rate


def _pct_style(pct: float) -> str:
    if pct >= 90:
        return "bold red"
    if pct >= 60:
        return "yellow"
    return "green"


class HostPanel(Static):
    """Renders a :class:`HostSample`; the app calls :meth:`show` once per host tick."""

    DEFAULT_CSS = """
    HostPanel { height: auto; padding: 0 1; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__("waiting for the first host sample…", **kw)  # type: ignore[arg-type]
        self.sample: HostSample | None = None
        self._shape: tuple[int, int] | None = None

    def show(self, sample: HostSample, history: HostHistory | None) -> None:
        """Redraw in place; ask for a layout pass only when the panel's height may change.

        A layout pass on every sample cost as much CPU as drawing the panel (bench P1).
        """
        self.sample = sample
        left, right = self.columns(sample, history)
        shape = self._height_if_unwrapped(left, right)
        layout = shape is None or shape != self._shape
        self._shape = shape
        self.update(self._grid(left, right), layout=layout)

    def _height_if_unwrapped(self, left: Text, right: Text) -> tuple[int, int] | None:
        """(width, lines) when no line can wrap at this width; None when one might."""
        width = self.content_region.width
        column = width // 2 - 4  # two ratio columns with the grid's padding: conservative
        lines = [left.plain.split("\n"), right.plain.split("\n")]
        if width <= 0 or any(len(line) > column for col in lines for line in col):
            return None
        return width, max(len(col) for col in lines)

    @staticmethod
    def _grid(left: Text, right: Text) -> Table:
        grid = Table.grid(expand=True, padding=(0, 2))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(left, right)
        return grid

    @classmethod
    def render_sample(cls, s: HostSample, history: HostHistory | None) -> Table:
        return cls._grid(*cls.columns(s, history))

    @staticmethod
    def columns(s: HostSample, history: HostHistory | None) -> tuple[Text, Text]:
        """The left (CPU bars, memory, swap) and right (load, memory, disk, net) columns."""
        cpu_lines = Text()
        ncpu = len(s.per_cpu)
        width = 18 if ncpu <= 8 else 10
        for i, pct in enumerate(s.per_cpu):
            cpu_lines.append(f"{i:>3}[", style="bold")
            cpu_lines.append(bar(pct / 100, width), style=_pct_style(pct))
            cpu_lines.append(f"{pct:5.1f}%]")
            cpu_lines.append("\n" if (i % 2 == 1 or i == ncpu - 1) else "  ")
        used = s.mem_total - s.mem_available
        mem_frac = used / s.mem_total if s.mem_total else 0.0
        cpu_lines.append("Mem[", style="bold")
        cpu_lines.append(bar(mem_frac, 2 * width + 3), style=_pct_style(mem_frac * 100))
        cpu_lines.append(f"{fmt_bytes(used)}/{fmt_bytes(s.mem_total)}]\n")
        swap_frac = s.swap_used / s.swap_total if s.swap_total else 0.0
        cpu_lines.append("Swp[", style="bold")
        cpu_lines.append(bar(swap_frac, 2 * width + 3), style=_pct_style(swap_frac * 100))
        cpu_lines.append(
            f"{fmt_bytes(s.swap_used)}/{fmt_bytes(s.swap_total)}]" if s.swap_total else "  none]"
        )
        right = Text()
        right.append("Load ", style="bold")
        right.append(" ".join(f"{x:.2f}" for x in s.load))
        right.append("   Uptime ", style="bold")
        right.append(fmt_duration(s.uptime_s))
        right.append("\nMem  ", style="bold")
        right.append(
            f"used {fmt_bytes(used)}  cached {fmt_bytes(s.mem_cached)}  "
            f"avail {fmt_bytes(s.mem_available)}"
        )
        right.append("\nDisk ", style="bold")
        right.append(f"R {fmt_rate(s.disk_read_bps):>9}  W {fmt_rate(s.disk_write_bps):>9}")
        if history is not None:
            right.append("  " + sparkline(history.disk, 20), style="cyan")
        for n in s.nets[:4]:
            right.append(f"\n{n.name[:10]:<10} ", style="bold")
            right.append(f"rx {fmt_rate(n.rx_bps):>9}  tx {fmt_rate(n.tx_bps):>9}")
        if len(s.nets) > 4:
            right.append(f"\n… {len(s.nets) - 4} more interfaces")
        if not s.nets:
            right.append(f"\nNet  {DASH}")
        if history is not None:
            right.append("\nCPU  ", style="bold")
            right.append(sparkline(history.cpu, 40, floor=10.0), style="green")
        return cpu_lines, right
