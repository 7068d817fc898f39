"""The host panel's items: meters and figures with a minimum width, how they pack into rows,
and the network and disk entries (plain Text, no widget state)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from tui.model.host import HostSample, NetRate
from tui.model.rates import History as HostHistory
from tui.ui.widgets.spark import compact_rate, sparkline
from tui.util import DASH, fmt_bytes, fmt_duration, terminal_safe

GAP = 2  # spaces between items (1 when that saves a line)
INLINE_MAX = 4  # up to this many CPUs: per-CPU meters among the items
METER_BAR_MIN = 6  # a per-CPU meter in the column layout keeps at least this many bars
MIN_BUDGET = 2
MODES = ("inline", "meters", "heat", "dense")  # most readable first
NET_NAME_MAX = 10  # longer interface names are cut with "…"

# Which interfaces the panel lists first; ifb (traffic shaping mirrors) are never listed.
NET_RANK = {"physical": 0, "bridge": 1, "vnet": 2, "virtual": 3, "": 3, "loopback": 4}


def _pct_style(pct: float) -> str:
    if pct >= 90:
        return "bold red"
    if pct >= 60:
        return "yellow"
    return "green"


def header_budget(height: int) -> int:
    """Lines for the whole header (hosts bar + host panel) on a screen ``height`` lines tall."""
    return max(6, height // 4)


def panel_budget(height: int, hosts: int, rule: int = 1) -> int:
    """Lines for the panel's content: the header's, less the hosts bar (a title line and one
    line per host) and the rule under the panel (the app's stylesheet draws it). A panel that
    needs one line more than this gives up its rule instead (:meth:`HostPanel.render`)."""
    return max(MIN_BUDGET, header_budget(height) - (1 + max(1, hosts)) - rule)


# -- items -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """Something on a row: ``draw(width)`` gives at most ``width`` cells, ``width >= min``."""

    min: int
    draw: Callable[[int], Text]
    grow: int = 10_000  # extra cells it can use


def meter(label: str, frac: float, value: str, width: int, style: str) -> Text:
    """``label[|||||      value]`` in exactly ``width`` cells (htop's meter)."""
    barw = max(0, width - len(label) - 2 - len(value))
    filled = round(max(0.0, min(1.0, frac)) * barw)
    out = Text(label, style="bold")
    out.append("[")
    out.append("|" * filled, style=style)
    out.append(" " * (barw - filled))
    out.append(value, style="dim")
    out.append("]")
    return out


def meter_item(label: str, frac: float, value: str, value_min: int, bar_min: int = 2) -> Item:
    return Item(
        len(label) + 2 + max(len(value), value_min) + bar_min,
        lambda w: meter(label, frac, value, w, _pct_style(frac * 100)),
    )


def cpu_label(i: int, width: int) -> str:
    return f"{i:>{width}}"


def cpu_meter_item(i: int, pct: float, label_w: int, bar_min: int = 2) -> Item:
    return meter_item(cpu_label(i, label_w), pct / 100, f"{pct:5.1f}%", 6, bar_min)


def mem_value(used: int, total: int) -> tuple[str, int]:
    """The text and its stable minimum width (from the total: used may be 2 chars longer)."""
    total_s = fmt_bytes(total)
    return f"{fmt_bytes(used)}/{total_s}", 2 * len(total_s) + 1


def text_item(text: Text) -> Item:
    return Item(len(text.plain), lambda _w: text, grow=0)


def rank_nets(nets: Sequence[NetRate]) -> list[NetRate]:
    """The interfaces worth listing, most useful first: physical, bridges, guests' taps, then
    the rest; ifb (traffic-shaping mirrors) never. Loopback is listed only when the sampler
    kept it (``show_loopback``)."""
    keep = [n for n in nets if net_kind(n) != "ifb"]
    return sorted(keep, key=lambda n: NET_RANK.get(net_kind(n), 3))  # stable: name order kept


def net_kind(n: NetRate) -> str:
    """The sampler's kind, else a guess from the name (remote hosts, fixed samples)."""
    if n.kind:
        return n.kind
    name = n.name
    if name == "lo":
        return "loopback"
    if name.startswith("ifb"):
        return "ifb"
    if name.startswith(("vnet", "macvtap")):
        return "vnet"
    if name.startswith(("virbr", "br")):
        return "bridge"
    if name.startswith(("eth", "en", "wl", "ww", "bond", "ib")):
        return "physical"
    return "virtual"


def _net_entry(n: NetRate) -> Text:
    out = Text(terminal_safe(n.name), style="bold")  # an interface name: any bytes but / and space
    out.truncate(NET_NAME_MAX, overflow="ellipsis")
    out.append(f" ↓{compact_rate(n.rx_bps):>6} ↑{compact_rate(n.tx_bps):>6}")
    return out


def more(count: int, long: bool) -> str:
    if long:
        return f" +{count} more interface{'' if count == 1 else 's'}"
    return f" +{count} more"


def net_item(nets: Sequence[NetRate]) -> Item:
    shown = rank_nets(nets)
    head = Text("Net ", style="bold")
    if not shown:
        return text_item(head + Text(DASH))
    entries = [_net_entry(n) for n in shown]
    least = 4 + len(entries[0].plain) + (len(more(len(shown) - 1, False)) if len(shown) > 1 else 0)

    def draw(width: int) -> Text:
        for count in range(len(entries), 0, -1):
            rest = len(entries) - count
            line = Text("Net ", style="bold")
            for j, e in enumerate(entries[:count]):
                if j:
                    line.append("  ")
                line.append_text(e)
            for long in (True, False):
                tail = more(rest, long) if rest else ""
                if len(line.plain) + len(tail) <= width or (count == 1 and not long):
                    line.append(tail, style="dim")
                    return line  # at its narrowest it may be cut, never emptied
        return head

    full = 4 + sum(len(e.plain) for e in entries) + 2 * (len(entries) - 1)
    return Item(least, draw, grow=max(0, full - least))


def disk_item(s: HostSample, history: HostHistory | None) -> Item:
    text = Text("Disk ", style="bold")
    text.append(f"r {compact_rate(s.disk_read_bps):>6} w {compact_rate(s.disk_write_bps):>6}")
    values = list(history.disk) if history is not None else []
    if len(values) < 2:
        return text_item(text)

    def draw(width: int) -> Text:
        room = min(width - len(text.plain) - 1, len(values))
        if room < 4:
            return text
        return text + Text(" ") + Text(sparkline(values, room), style="cyan")

    return Item(len(text.plain), draw, grow=len(values) + 1)


def history_item(history: HostHistory | None) -> Item | None:
    """The CPU history as a sparkline: only where it costs no line."""
    values = list(history.cpu) if history is not None else []
    if len(values) < 2:
        return None

    def draw(width: int) -> Text:
        room = min(width - 4, len(values))
        return Text("CPU ", style="bold") + Text(
            sparkline(values, room, floor=10.0).rstrip().rjust(room), style="green"
        )

    return Item(14, draw, grow=len(values) - 10)


def info_items(s: HostSample, history: HostHistory | None, label: str) -> list[Item]:
    """Memory, swap, uptime, load, disk, network (and whose figures these are)."""
    items: list[Item] = []
    if label:
        items.append(text_item(Text(terminal_safe(label), style="bold cyan")))
    used = s.mem_total - s.mem_available
    value, least = mem_value(used, s.mem_total)
    items.append(meter_item("Mem", used / s.mem_total if s.mem_total else 0.0, value, least))
    if s.swap_total:
        value, least = mem_value(s.swap_used, s.swap_total)
        items.append(meter_item("Swp", s.swap_used / s.swap_total, value, least))
    else:
        items.append(meter_item("Swp", 0.0, "none", 4))
    up = Text("Up ", style="bold")
    up.append(fmt_duration(s.uptime_s))
    items.append(text_item(up))
    load = Text("Load ", style="bold")
    load.append(" ".join(f"{x:.2f}" for x in s.load))
    items.append(text_item(load))
    items.append(disk_item(s, history))
    items.append(net_item(s.nets))
    return items


# -- packing ---------------------------------------------------------------------------------
def pack(items: Sequence[Item], width: int, gap: int = GAP) -> list[list[Item]]:
    """Items in order, as many per row as their minimum widths allow."""
    rows: list[list[Item]] = []
    row: list[Item] = []
    used = 0
    for it in items:
        need = it.min if not row else used + gap + it.min
        if row and need > width:
            rows.append(row)
            row, used = [it], it.min
        else:
            row.append(it)
            used = need
    if row:
        rows.append(row)
    return rows


def pack_best(items: Sequence[Item], width: int) -> tuple[list[list[Item]], int]:
    """Rows and the gap: 2 spaces, or 1 when that saves a line."""
    wide = pack(items, width, GAP)
    tight = pack(items, width, 1)
    return (tight, 1) if len(tight) < len(wide) else (wide, GAP)


def draw_row(row: Sequence[Item], width: int, gap: int) -> Text:
    """One row: each item at its minimum plus a share of what is left; cut to ``width``."""
    widths = [it.min for it in row]
    spare = width - sum(widths) - gap * (len(row) - 1)
    while spare > 0:
        takers = [i for i, it in enumerate(row) if widths[i] - it.min < it.grow]
        if not takers:
            break
        share = max(1, spare // len(takers))
        for i in takers:
            give = min(share, row[i].grow - (widths[i] - row[i].min), spare)
            widths[i] += give
            spare -= give
            if spare <= 0:
                break
    line = Text()
    for i, (it, w) in enumerate(zip(row, widths, strict=True)):
        if i:
            line.append(" " * gap)
        cell = it.draw(w)
        cell.truncate(w)
        line.append_text(cell)
        if i < len(row) - 1 and cell.cell_len < w:
            line.append(" " * (w - cell.cell_len))
    line.truncate(width)
    return line
