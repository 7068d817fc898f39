"""The guest table's columns: what each shows, how it sorts, which libvirt stat group feeds
it, and the layout rule that drops or merges low-priority columns as the table narrows.

Pure functions of a :class:`~tui.model.guest.GuestSample` (no widget state): the table in
:mod:`tui.ui.widgets.guest_table` renders them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from rich.text import Text

from tui.model.guest import GuestSample
from tui.model.rates import History
from tui.ui.widgets.spark import sparkline
from tui.util import DASH, fmt_bytes, fmt_duration, fmt_pct, fmt_rate, terminal_safe

STATE_STYLE = {
    "running": "green",
    "paused": "yellow",
    "shut off": "dim",
    "crashed": "bold red",
    "shutting down": "yellow",
    "suspended": "cyan",
}
# Markers after a guest's name: it holds USB devices; kvmdeck has a viewer open on it.
USB_MARK = ("U", "bold magenta")
VIEWER_MARK = ("V", "bold cyan")
SORT_MARK = {False: "▲", True: "▼"}  # ascending, descending
CELL_PADDING = 1  # DataTable's default: one space each side of every cell
WIDE = 10_000  # a width where every column fits (before the first resize)


def _kib(v: int | None) -> str:
    return DASH if v is None else fmt_bytes(v * 1024)


def _mem(s: GuestSample) -> str:
    if s.mem_cur_kib is None and s.mem_max_kib is None:
        return DASH
    return f"{_kib(s.mem_cur_kib)}/{_kib(s.mem_max_kib)}"


def _kib_short(v: int | None) -> str:
    """Whole units ("1010M"), for a narrow Mem column."""
    if v is None:
        return DASH
    text = fmt_bytes(v * 1024)
    return text.replace(".0", "") if text[-1] != "B" else text


def _mem_short(s: GuestSample) -> str:
    if s.mem_cur_kib is None and s.mem_max_kib is None:
        return DASH
    return f"{_kib_short(s.mem_cur_kib)}/{_kib_short(s.mem_max_kib)}"


def cpu_style(pct: float | None) -> str:
    """CPU% by load: quiet, busy, saturated."""
    if pct is None or pct < 50.0:
        return ""
    return "yellow" if pct < 80.0 else "bold red"


def _rate_sum(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    render: Callable[[GuestSample, History | None, str], str | Text]
    sort: Callable[[GuestSample], float | str] | None = None
    # What feeds it (see tui/adapters/libvirt/stats.py: COLUMN_GROUPS): "" = state/XML only;
    # "memsize": current/max memory and RSS (read locally where kvmdeck can: no libvirt
    # balloon group); "mem": the guest's own memory figures (the balloon group).
    group: str = ""
    align: str = "left"  # numbers: "right"
    field: str = ""  # the sort field (N P M B T) whose marker this column carries
    compact: Callable[[GuestSample], str] | None = None  # when render is wider than the column


def _state(s: GuestSample, _h: History | None, _host: str) -> Text:
    return Text(s.state, style=STATE_STYLE.get(s.state, ""))


def _cpu(s: GuestSample, _h: History | None, _host: str) -> Text:
    return Text(fmt_pct(s.cpu_pct), style=cpu_style(s.cpu_pct))


def _uptime_or_reason(s: GuestSample) -> str:
    """How long it has run; ``—`` when it does not run (why it stopped is in the event log)."""
    return fmt_duration(s.uptime_s) if s.active else DASH


def _num(v: float | None) -> float:
    return -1.0 if v is None else v


def _disk_key(s: GuestSample) -> float:
    return _num(s.rd_bps) + _num(s.wr_bps)


def _net_key(s: GuestSample) -> float:
    return _num(s.rx_bps) + _num(s.tx_bps)


# Every column, widest layout, left to right.
COLUMNS: tuple[Column, ...] = (
    Column(
        "name",
        "Name",
        22,
        lambda s, h, _: Text(terminal_safe(s.name)),
        lambda s: s.name.lower(),
        field="name",
    ),
    # The host's label ([[hosts]] name, else the short URI); sorted by the table (the label
    # is not in the sample: see GuestTable.apply_sort).
    Column(
        "host", "Host", 12, lambda s, h, host: Text(terminal_safe(host)), lambda s: "", field="host"
    ),
    Column("state", "State", 13, _state, lambda s: s.state),
    Column(
        "vcpus", "vCPU", 4, lambda s, h, _: DASH if s.vcpus is None else str(s.vcpus), align="right"
    ),
    Column("cpu", "CPU%", 6, _cpu, lambda s: _num(s.cpu_pct), "cpu", "right", "cpu"),
    Column("cpuh", "Host%", 6, lambda s, h, _: fmt_pct(s.cpu_host_pct), None, "cpu", "right"),
    Column(
        "cpuhist",
        "CPU history",
        12,
        lambda s, h, _: sparkline(h.cpu, 12, floor=10.0) if h is not None and s.active else "",
        None,
        "cpu",
    ),
    Column(
        "mem",
        "Mem cur/max",
        15,
        lambda s, h, _: _mem(s),
        lambda s: _num(s.mem_cur_kib),
        "memsize",
        "right",
        "mem",
        _mem_short,
    ),
    Column(
        "rss",
        "RSS",
        7,
        lambda s, h, _: _kib(s.rss_kib),
        lambda s: _num(s.rss_kib),
        "memsize",
        "right",
    ),
    Column("used", "In-guest", 8, lambda s, h, _: _kib(s.guest_used_kib), None, "mem", "right"),
    Column(
        "rd", "Disk R", 9, lambda s, h, _: fmt_rate(s.rd_bps), _disk_key, "disk", "right", "disk"
    ),
    Column("wr", "Disk W", 9, lambda s, h, _: fmt_rate(s.wr_bps), None, "disk", "right"),
    Column("rx", "Net RX", 9, lambda s, h, _: fmt_rate(s.rx_bps), _net_key, "net", "right", "net"),
    Column("tx", "Net TX", 9, lambda s, h, _: fmt_rate(s.tx_bps), None, "net", "right"),
    Column("uptime", "Uptime", 11, lambda s, h, _: _uptime_or_reason(s), align="right"),
    # The guest's addresses (their own lane, not a stat group): rendered from the Guest.
    Column("ip", "IP", 15, lambda s, h, _: "", None),
)
# Columns that stand for two when the table is narrow: read + write, receive + transmit.
MERGED: dict[str, tuple[Column, tuple[str, ...]]] = {
    "disk": (
        Column(
            "disk",
            "Disk",
            9,
            lambda s, h, _: fmt_rate(_rate_sum(s.rd_bps, s.wr_bps)),
            _disk_key,
            "disk",
            "right",
            "disk",
        ),
        ("rd", "wr"),
    ),
    "net": (
        Column(
            "net",
            "Net",
            9,
            lambda s, h, _: fmt_rate(_rate_sum(s.rx_bps, s.tx_bps)),
            _net_key,
            "net",
            "right",
            "net",
        ),
        ("rx", "tx"),
    ),
}
COLUMN_BY_KEY = {c.key: c for c in COLUMNS} | {k: col for k, (col, _parts) in MERGED.items()}
# The sort fields (keys N P M B T) and what they sort by; ties go by name, then row key.
SORT_FIELDS: dict[str, Callable[[GuestSample], float | str]] = {
    "name": lambda s: s.name.lower(),
    "cpu": lambda s: _num(s.cpu_pct),
    "mem": lambda s: _num(s.mem_cur_kib),
    "disk": _disk_key,
    "net": _net_key,
    "host": lambda s: "",  # by the host's label: GuestTable.apply_sort
}
SORTS = {"cpu": "cpu", "mem": "mem", "name": "name", "disk": "disk", "net": "net", "host": "host"}

# How the table narrows: applied in order until the columns fit. ("drop", key), ("merge",
# merged key) or ("narrow", key, width[, label]). The first to go: Host%, In-guest and the
# CPU history; Name, State, CPU%, Mem, Disk and Net last. The Host column (shown with more
# than one host) narrows but never goes: rows of different hosts must not look the same.
SHRINK: tuple[tuple[object, ...], ...] = (
    ("drop", "ip"),
    ("drop", "used"),
    ("drop", "cpuh"),
    ("drop", "cpuhist"),
    ("merge", "net"),
    ("merge", "disk"),
    ("drop", "uptime"),
    ("drop", "rss"),
    ("narrow", "mem", 13, "Mem"),
    ("drop", "vcpus"),
    ("narrow", "name", 16),
    ("narrow", "host", 10),
    ("narrow", "name", 14),
    ("narrow", "host", 8),
    ("drop", "net"),
    ("drop", "disk"),
    ("narrow", "name", 12),
    ("narrow", "host", 6),
)


@dataclass(frozen=True)
class Shown:
    """A column as laid out now: its width and header label."""

    column: Column
    width: int
    label: str

    @property
    def key(self) -> str:
        return self.column.key


def total_width(shown: Iterable[Shown]) -> int:
    """Cells' widths plus DataTable's padding."""
    return sum(s.width + 2 * CELL_PADDING for s in shown)


def layout(width: int, show_host: bool = False) -> tuple[Shown, ...]:
    """The columns that fit ``width`` cells, by priority (pure; see :data:`SHRINK`)."""
    shown = [Shown(c, c.width, c.label) for c in COLUMNS if show_host or c.key != "host"]
    for step in SHRINK:
        if total_width(shown) <= width:
            break
        kind, key = step[0], str(step[1])
        keys = [s.key for s in shown]
        if kind == "drop" and key in keys:
            del shown[keys.index(key)]
        elif kind == "merge":
            merged, parts = MERGED[key]
            present = [k for k in parts if k in keys]
            if present:
                at = keys.index(present[0])
                shown = [s for s in shown if s.key not in parts]
                shown.insert(at, Shown(merged, merged.width, merged.label))
        elif kind == "narrow" and key in keys:
            i = keys.index(key)
            label = str(step[3]) if len(step) > 3 else shown[i].label
            shown[i] = replace(shown[i], width=int(str(step[2])), label=label)
    return tuple(shown)


def justify(shown: Shown) -> Literal["left", "right"]:
    return "right" if shown.column.align == "right" else "left"
