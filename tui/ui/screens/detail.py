"""Guest detail (Enter): XML summary, live charts of CPU, memory, disk and net, the guest's events."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, RichLog, Static

from tui.model.domain import DomainInfo
from tui.model.fleet import Change, Fleet
from tui.model.guest import GuestSample
from tui.model.ids import GuestKey
from tui.model.rates import History
from tui.ui import actions
from tui.ui.widgets.chart import Chart
from tui.util import DASH, fmt_bytes, fmt_pct, fmt_rate


def summary_table(info: DomainInfo | None, sample: GuestSample | None) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()

    def row(label: str, value: str) -> None:
        t.add_row(label, Text(value))  # guest-supplied strings are never markup

    if info is None:
        row("XML", "not read yet")
        return t
    row("Name", info.name)
    row("UUID", info.uuid)
    row("State", sample.state if sample else DASH)
    row("Type", f"{info.emulator_type} {info.arch} {info.machine}".strip())
    row("vCPUs", str(info.vcpus))
    row("Memory", f"{fmt_bytes(info.cur_mem_kib * 1024)} of {fmt_bytes(info.max_mem_kib * 1024)}")
    for d in info.disks:
        row(f"Disk {d.target}", f"{d.device} {d.bus} {d.source}")
    for n in info.nics:
        row(f"NIC {n.target or n.mac}", f"{n.type} {n.model} {n.mac} {n.source}".strip())
    for g in info.graphics:
        where = g.socket or f"{g.listen or '*'}:{g.port or 'auto'}"
        tls = f" tls {g.tls_port}" if g.tls_port else ""
        row("Graphics", f"{g.type} {where}{tls}")
    for h in info.usb_hostdevs:
        ids = f"{h.vendor or 0:04x}:{h.product or 0:04x}" if h.vendor is not None else "?"
        addr = f" bus {h.bus} dev {h.device}" if h.bus is not None else ""
        row("USB hostdev", f"{ids}{addr}")
    if not info.graphics:
        row("Graphics", "none")
    return t


def _sum_rate(a: float | None, b: float | None) -> str:
    if a is None and b is None:
        return DASH
    return fmt_rate((a or 0.0) + (b or 0.0))


class GuestDetailScreen(Screen[None]):
    BINDINGS = actions.bindings("detail")
    DEFAULT_CSS = """
    GuestDetailScreen #summary { width: 60; padding: 1 2; border: round $accent; height: 1fr; }
    GuestDetailScreen #charts { width: 1fr; padding: 0 1; }
    GuestDetailScreen .chart { margin-bottom: 1; }
    GuestDetailScreen .chart-label { color: $text-muted; }
    GuestDetailScreen #guest-events { height: 10; border: round $panel; }
    """

    def __init__(self, key: GuestKey, title: str) -> None:
        super().__init__()
        self.key = key
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Label(Text(self.title_text), id="detail-title")
        with Horizontal():
            yield Static(id="summary")
            with Vertical(id="charts"):
                for name in ("cpu", "mem", "disk", "net"):
                    yield Label(name, id=f"label-{name}", classes="chart-label")
                    yield Chart(id=f"chart-{name}", classes="chart")
        yield RichLog(id="guest-events", markup=False, wrap=False)
        yield Footer()

    def on_mount(self) -> None:
        fleet = getattr(self.app, "fleet", None)
        if fleet is not None:
            self.render_fleet(fleet, Change(hosts=frozenset({self.key.host})))

    def render_fleet(self, fleet: Fleet, change: Change) -> None:
        if self.key.host not in change.hosts and self.key not in change.changed:
            return
        g = fleet.guest(self.key)
        if g is None:
            self.show(None, None, None, [])
            return
        self.show(g.info, g.sample, g.history, list(g.events))

    def show(
        self,
        info: DomainInfo | None,
        sample: GuestSample | None,
        history: History | None,
        events: list[str],
    ) -> None:
        self.query_one("#summary", Static).update(summary_table(info, sample))
        if history is not None:
            s = sample
            rss = fmt_bytes(s.rss_kib * 1024) if s and s.rss_kib else DASH
            disk = _sum_rate(s.rd_bps, s.wr_bps) if s else DASH
            net = _sum_rate(s.rx_bps, s.tx_bps) if s else DASH
            series = {
                "cpu": (list(history.cpu), f"CPU {fmt_pct(s.cpu_pct) if s else DASH}"),
                "mem": (list(history.mem), f"Memory (RSS) {rss}"),
                "disk": (list(history.disk), f"Disk {disk}"),
                "net": (list(history.net), f"Net {net}"),
            }
            # Charts start at zero (CPU at 0..100%), so a quiet guest looks quiet.
            mem_top = float(s.mem_max_kib) if s and s.mem_max_kib else None  # RSS of max memory
            scale = {
                "cpu": (100.0, 0.0),
                "mem": (mem_top, 1.0),
                "disk": (None, 4096.0),
                "net": (None, 4096.0),
            }
            for name, (data, label) in series.items():
                top, floor = scale[name]
                self.query_one(f"#chart-{name}", Chart).set_data(data, top=top, floor=floor)
                self.query_one(f"#label-{name}", Label).update(label)
        log = self.query_one("#guest-events", RichLog)
        log.clear()
        for line in events[-50:]:
            log.write(Text(line))
