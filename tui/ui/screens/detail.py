"""Guest detail (Enter): XML summary, live charts of CPU, memory, disk and net, the guest's events.

Side by side when the terminal is wide, stacked (charts two by two) when it is narrow; the body
scrolls, so it fits 80x24. The lifecycle keys and ``v`` act on the guest shown, by its key, through
``app.guests`` (tui/ui/guest_actions.py: the main screen's checks and messages); the main table's
selection does not move.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Label, RichLog, Static

from tui.model.domain import DomainInfo
from tui.model.fleet import Change, Fleet
from tui.model.guest import GuestSample, GuestState
from tui.model.ids import GuestKey
from tui.model.rates import History
from tui.ui import actions
from tui.ui.deck import deck_of
from tui.ui.widgets.addresses import AddressesBox
from tui.ui.widgets.chart import Chart
from tui.ui.widgets.display_doctor import DisplayDoctor, spice_ready_flow
from tui.ui.widgets.footer import KeysFooter
from tui.util import DASH, fmt_bytes, fmt_pct, fmt_rate, terminal_safe


def summary_table(info: DomainInfo | None, sample: GuestSample | None) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()

    def row(label: str, value: str) -> None:
        # Guest-supplied strings are never markup; a long path folds instead of ending in "…".
        t.add_row(terminal_safe(label), Text(terminal_safe(value), overflow="fold"))

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


def _kib(value: float) -> str:
    return fmt_bytes(value * 1024)


def _pct(value: float) -> str:
    return f"{value:g}%"


CHARTS = ("cpu", "mem", "disk", "net")
NO_EVENTS = "No events for this guest since kvmdeck started."


def span_text(samples: int, refresh_s: float | None) -> str:
    """The charts' time axis: "last 60 s, newest on the right"."""
    if not samples:
        return "No history yet."
    if not refresh_s:
        return f"Last {samples} samples, newest on the right."
    seconds = samples * refresh_s
    if seconds < 120:
        span = f"{seconds:.0f} s"
    elif seconds < 7200:
        span = f"{seconds / 60:.0f} min"
    else:
        span = f"{seconds / 3600:.1f} h"
    return f"Last {span} ({samples} samples), newest on the right."


class GuestDetailScreen(Screen[None]):
    BINDINGS = actions.bindings("detail")
    NARROW = 110  # below this width: stacked, charts two by two
    DEFAULT_CSS = """
    GuestDetailScreen #detail-title { height: 1; padding: 0 1; background: $boost; }
    GuestDetailScreen #detail-body { height: 1fr; scrollbar-size-vertical: 1; }
    GuestDetailScreen #detail-top { height: auto; }
    GuestDetailScreen #summary {
        width: 62; height: auto; padding: 0 1; border: round $accent;
        border-title-color: $text-muted;
    }
    GuestDetailScreen #charts { width: 1fr; height: auto; padding: 0 1; }
    GuestDetailScreen .chart-box { height: auto; width: 1fr; margin-bottom: 1; }
    GuestDetailScreen .chart-label { color: $text-muted; width: 1fr; }
    GuestDetailScreen #chart-span { color: $text-muted; width: 1fr; }
    GuestDetailScreen #guest-events {
        height: 10; border: round $panel; border-title-color: $text-muted;
    }
    GuestDetailScreen.-narrow #detail-top { layout: vertical; }
    GuestDetailScreen.-narrow #summary { width: 1fr; }
    GuestDetailScreen.-narrow #charts-grid { layout: grid; grid-size: 2; grid-gutter: 0 2; }
    GuestDetailScreen #charts-grid { height: auto; }
    GuestDetailScreen.-narrow .chart-box { margin-bottom: 0; }
    GuestDetailScreen.-narrow #guest-events { height: 8; }
    """

    def __init__(self, key: GuestKey, title: str) -> None:
        super().__init__()
        self.key = key
        self.title_text = title
        self._paused = False  # the guest shown is paused: p reads Resume

    def compose(self) -> ComposeResult:
        title = Text()
        title.append(
            terminal_safe(self.title_text), style="bold"
        )  # a guest name: plain text, never markup
        yield Label(title, id="detail-title")
        with VerticalScroll(id="detail-body"):
            with Horizontal(id="detail-top"):
                summary = Static(id="summary")
                summary.border_title = "Guest"
                yield summary
                with Vertical(id="charts"):
                    yield Label("", id="chart-span")
                    with Vertical(id="charts-grid"):
                        for name in CHARTS:
                            with Vertical(classes="chart-box"):
                                yield Label(name, id=f"label-{name}", classes="chart-label")
                                yield Chart(id=f"chart-{name}", classes="chart")
            yield AddressesBox(id="guest-addresses")  # issue 13: every IP, with its source
            yield DisplayDoctor(id="display-doctor")  # issue 16: the display doctor
            log = RichLog(id="guest-events", markup=False, wrap=False)
            log.border_title = "Events of this guest"
            yield log
        yield KeysFooter()

    def on_mount(self) -> None:
        self._fit(self.size.width)
        self.query_one("#detail-body", VerticalScroll).focus()
        self._show_fleet(deck_of(self).fleet, Change(hosts=frozenset({self.key.host})))

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        self.set_class(0 < width < self.NARROW, "-narrow")

    # -- keys: the main screen's actions, on this guest -----------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """--readonly: the lifecycle keys are greyed in the footer (the registry decides)."""
        return actions.check_state(action, parameters, deck_of(self).readonly)

    def footer_labels(self) -> dict[str, tuple[str, str]]:
        """p reads Resume while this guest is paused (the footer asks)."""
        return {"lifecycle('pause')": ("Resume", "Resume")} if self._paused else {}

    def action_lifecycle(self, verb: str) -> None:
        deck_of(self).guests.run(self.key, verb, f"detail.{verb}")

    def action_console(self) -> None:
        deck_of(self).guests.console(self.key, "detail.console")

    def action_spice_ready(self) -> None:  # S: make this guest SPICE-ready (issue 16)
        spice_ready_flow(self, self.key)

    # -- rendering ------------------------------------------------------------------------
    def render_fleet(self, fleet: Fleet, change: Change) -> None:
        if self.is_mounted:  # pushed, not composed yet: on_mount renders it
            self._show_fleet(fleet, change)

    def _show_fleet(self, fleet: Fleet, change: Change) -> None:
        """(is_mounted is still False in on_mount: it renders through here.)"""
        host = self.key.host  # polled: its history graphs got a point
        if (
            host not in change.hosts
            and host not in change.polled
            and self.key not in change.changed
        ):
            return
        g = fleet.guest(self.key)
        paused = g is not None and g.sample.state_code == GuestState.PAUSED
        if paused != self._paused:
            self._paused = paused
            self.refresh_bindings()  # the footer's p: Pause or Resume
        if g is None:
            self.show(None, None, None, [])
            self.query_one(AddressesBox).show((), False)
            return
        self.show(g.info, g.sample, g.history, list(g.events))
        self.query_one(AddressesBox).show(g.addresses, g.sample.active)

    def show(
        self,
        info: DomainInfo | None,
        sample: GuestSample | None,
        history: History | None,
        events: list[str],
    ) -> None:
        self.query_one("#summary", Static).update(summary_table(info, sample))
        self.query_one("#display-doctor", DisplayDoctor).show(info, self.key)
        s = sample
        if history is not None:
            vcpus = f" of {s.vcpus} vCPU{'' if s.vcpus == 1 else 's'}" if s and s.vcpus else ""
            rss = fmt_bytes(s.rss_kib * 1024) if s and s.rss_kib else DASH
            top_mem = f" of {fmt_bytes(s.mem_max_kib * 1024)}" if s and s.mem_max_kib else ""
            disk = _sum_rate(s.rd_bps, s.wr_bps) if s else DASH
            net = _sum_rate(s.rx_bps, s.tx_bps) if s else DASH
            cpu = fmt_pct(s.cpu_pct).strip() if s else DASH
            series = {
                "cpu": (list(history.cpu), f"CPU {cpu}{vcpus}"),
                "mem": (list(history.mem), f"Memory (RSS) {rss}{top_mem}"),
                "disk": (list(history.disk), f"Disk read+write {disk}"),
                "net": (list(history.net), f"Net rx+tx {net}"),
            }
            # Charts start at zero (CPU at 0..100%), so a quiet guest looks quiet; the gutter
            # shows the top of the scale in the figure's unit.
            mem_top = float(s.mem_max_kib) if s and s.mem_max_kib else None  # RSS of max memory
            scale = {
                "cpu": (100.0, 0.0, _pct),
                "mem": (mem_top, 1.0, _kib),
                "disk": (None, 4096.0, fmt_rate),
                "net": (None, 4096.0, fmt_rate),
            }
            for name, (data, label) in series.items():
                top, floor, fmt = scale[name]
                self.query_one(f"#chart-{name}", Chart).set_data(
                    data, top=top, floor=floor, fmt=fmt
                )
                self.query_one(f"#label-{name}", Label).update(Text(terminal_safe(label)))
            refresh = deck_of(self).refresh_s
            self.query_one("#chart-span", Label).update(Text(span_text(len(history.cpu), refresh)))
        log = self.query_one("#guest-events", RichLog)
        log.clear()
        for line in events[-50:]:
            log.write(Text(terminal_safe(line)))
        if not events:
            log.write(Text(NO_EVENTS, style="dim"))
