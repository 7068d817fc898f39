"""The hosts bar: kvmdeck's header line (DEMO, READ-ONLY, the KVM badge, the refresh) and one
line per host (state, name, URI, why it is not up, how long its figures are stale). Plain text."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from tui.core.guest_rules import plural
from tui.model.fleet import Fleet, Host
from tui.model.ids import HostId
from tui.model.link import LinkState
from tui.util import DASH, fmt_bytes, fmt_pct, terminal_safe

if TYPE_CHECKING:
    from tui.model.host import RemoteHostSample

LINK_STYLE = {
    LinkState.UP: "green",
    LinkState.CONNECTING: "yellow",
    LinkState.RECONNECTING: "bold yellow",
    LinkState.DOWN: "bold red",
}


def remote_summary(r: RemoteHostSample) -> str:
    """A remote host's figures (libvirt's getInfo/getCPUStats/getMemoryStats; '—' for gaps)."""
    cpu = fmt_pct(r.cpu_pct).strip()
    if r.mem_total_kib and r.mem_free_kib is not None:
        used = (r.mem_total_kib - r.mem_free_kib) * 1024
        mem = f"{fmt_bytes(used)}/{fmt_bytes(r.mem_total_kib * 1024)}"
    elif r.mem_total_kib:
        mem = f"{DASH}/{fmt_bytes(r.mem_total_kib * 1024)}"
    else:
        mem = DASH
    return f"host cpu {cpu} of {r.cpus or DASH} · mem {mem} (via libvirt)"


HOST_LINES = 2  # up to this many hosts get a line each; more: one summary line
STATE_ORDER = (LinkState.UP, LinkState.CONNECTING, LinkState.RECONNECTING, LinkState.DOWN)


def bar_host_lines(hosts: int) -> int:
    """How many lines the hosts take in the bar (below its title line)."""
    return hosts if hosts <= HOST_LINES else 1


def guest_counts(h: Host) -> tuple[int, int]:
    """(running, total) guests of a host."""
    return sum(1 for g in h.guests.values() if g.sample.active), len(h.guests)


class GuestCounts:
    """Running and total guests of the fleet, recounted only for the hosts a change names: a
    poll of one host of 50 does not walk 1000 guests (the summary line is drawn after each)."""

    def __init__(self) -> None:
        self._by_host: dict[HostId, tuple[int, int]] = {}

    def update(self, fleet: Fleet, hosts: Collection[HostId] | None = None) -> tuple[int, int]:
        """The fleet's (running, total) after a change of ``hosts`` (None: every host)."""
        by = self._by_host
        for gone in [h for h in by if h not in fleet.hosts]:
            del by[gone]
        for hid, h in fleet.hosts.items():
            if hosts is None or hid in hosts or hid not in by:
                by[hid] = guest_counts(h)
        return sum(r for r, _ in by.values()), sum(t for _, t in by.values())


def summary_line(hosts: list[Host], key: str = "H", guests: tuple[int, int] | None = None) -> Text:
    """``12 hosts · 10 up · 1 reconnecting · 1 down``, then where the causes are. ``guests``:
    (running, total) guests, when the caller keeps them (:class:`GuestCounts`)."""
    counts = {s: 0 for s in STATE_ORDER}
    for h in hosts:
        counts[h.state] += 1
    line = Text()
    line.append(f"{len(hosts)} hosts", style="bold")
    for state in STATE_ORDER:
        if counts[state]:
            line.append(" · ")
            line.append(f"{counts[state]} {state.value}", style=LINK_STYLE[state])
    if guests is None:
        each = [guest_counts(h) for h in hosts]
        guests = sum(r for r, _ in each), sum(t for _, t in each)
    running, total = guests
    line.append(f" · {running}/{total} guests running", style="dim")
    if key:
        trouble = counts[LinkState.DOWN] or counts[LinkState.RECONNECTING]
        line.append(f"  {key} {'why' if trouble else 'hosts'}", style="dim")
    return line


def host_lines(hosts: list[Host], key: str, guests: tuple[int, int] | None = None) -> list[Text]:
    """The bar's host lines: one per host up to :data:`HOST_LINES`, else one summary line
    (the hosts screen, ``key``, lists them with causes and fixes)."""
    if len(hosts) <= HOST_LINES:
        return [host_line(h) for h in hosts]
    return [summary_line(hosts, key, guests)]


def host_line(h: Host) -> Text:
    """One line of the hosts bar: state, name, URI, and why it is not up. Plain text."""
    style = LINK_STYLE[h.state]
    line = Text()
    line.append("● ", style=style)
    line.append(terminal_safe(h.label), style="bold")  # a hostname from libvirt, or config
    line.append(f"  {terminal_safe(h.uri_text or h.id)}  ", style="dim")
    line.append(h.state.value, style=style)
    stale = h.stale_for()
    if stale is not None:
        line.append(f"  figures stale for {stale:.0f} s", style="yellow")
    if not h.up and h.report is not None and h.report.error:
        line.append(f"  {terminal_safe(h.report.error)}", style=style)
    if h.up:
        n = len(h.guests)
        line.append(f"  {plural(n, 'guest')}", style="dim")
        if h.remote is not None:
            line.append("  " + remote_summary(h.remote), style="cyan")
    return line


class HostsBar(Static):
    """One line per host: state, name, URI; the DEMO marker and the KVM badge."""

    DEFAULT_CSS = """
    HostsBar { height: auto; background: $boost; padding: 0 1; }
    """
    _last: Text | None = None

    def show(
        self, lines: list[Text], badge: str, demo: bool, refresh: float, readonly: bool
    ) -> None:
        head = Text()
        head.append(" kvmdeck ", style="bold reverse")
        if demo:
            head.append(" DEMO ", style="bold black on yellow")
            head.append(" libvirt test driver, no real guests ", style="yellow")
        if readonly:
            head.append(" READ-ONLY ", style="bold black on cyan")
        head.append(f"  {terminal_safe(badge)}", style="bold")
        head.append(f"   refresh {refresh:g}s", style="dim")
        for line in (head, *lines):  # one line each, never wrapped: the height stays known
            line.no_wrap = True
            line.overflow = "ellipsis"
        out = Text("\n").join([head, *lines])
        out.no_wrap = True
        out.overflow = "ellipsis"
        if out == self._last:
            return  # nothing changed: no repaint at all
        # Its height only changes with the number of lines (hosts): skip the layout pass else.
        same_height = self._last is not None and len(self._last.split()) == len(out.split())
        self._last = out
        self.update(out, layout=not same_height)
