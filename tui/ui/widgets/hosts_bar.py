"""The hosts bar: kvmdeck's header line (DEMO, READ-ONLY, the KVM badge, the refresh) and one
line per host (state, name, URI, why it is not up, how long its figures are stale). Plain text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from tui.core.guest_rules import plural
from tui.model.fleet import Host
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


def summary_line(hosts: list[Host], key: str = "H") -> Text:
    """``12 hosts · 10 up · 1 reconnecting · 1 down``, then where the causes are."""
    counts = {s: 0 for s in STATE_ORDER}
    for h in hosts:
        counts[h.state] += 1
    line = Text()
    line.append(f"{len(hosts)} hosts", style="bold")
    for state in STATE_ORDER:
        if counts[state]:
            line.append(" · ")
            line.append(f"{counts[state]} {state.value}", style=LINK_STYLE[state])
    running = sum(1 for h in hosts for g in h.guests.values() if g.sample.active)
    total = sum(len(h.guests) for h in hosts)
    line.append(f" · {running}/{total} guests running", style="dim")
    if key:
        trouble = counts[LinkState.DOWN] or counts[LinkState.RECONNECTING]
        line.append(f"  {key} {'why' if trouble else 'hosts'}", style="dim")
    return line


def host_lines(hosts: list[Host], key: str) -> list[Text]:
    """The bar's host lines: one per host up to :data:`HOST_LINES`, else one summary line
    (the hosts screen, ``key``, lists them with causes and fixes)."""
    if len(hosts) <= HOST_LINES:
        return [host_line(h) for h in hosts]
    return [summary_line(hosts, key)]


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
