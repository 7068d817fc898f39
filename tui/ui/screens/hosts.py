"""The hosts screen (``H``): one line per host, with what the main screen's summary line leaves
out: state and cause, guests running/total, the host's CPU and memory, the last poll's latency
and where its USB events come from. Below the list, the selected host's cause and fix in full.

``r`` tries the selected host again now (instead of at the end of its backoff); Enter shows
only its guests on the main screen (a ``host:`` filter). Every string from a host is plain text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from tui.model.fleet import Change, Fleet, Host
from tui.model.ids import HostId
from tui.model.link import LinkState
from tui.ui import actions
from tui.ui.deck import Deck, deck_of
from tui.ui.screens.hostops import Cell
from tui.ui.widgets.footer import KeysFooter
from tui.ui.widgets.hosts_bar import LINK_STYLE, summary_line
from tui.util import DASH, fmt_bytes, fmt_pct, terminal_safe

if TYPE_CHECKING:
    from tui.model.host import HostSample

# (label, width): fixed, so a cell that grows later is not cut; the rest scrolls sideways.
COLUMNS = (
    ("Host", 14),
    ("State", 22),
    ("Guests", 7),
    ("CPU", 6),
    ("Memory", 11),
    ("Poll", 7),
    ("USB", 20),
    ("URI", 60),
)


def host_kind(h: Host, is_test: bool) -> str:
    """ "test", "remote" or "local": which figures and USB source a host has."""
    if is_test:
        return "test"
    return "remote" if h.remote is not None else "local"


def usb_source(kind: str) -> str:
    return {
        "test": "none (test driver)",
        "remote": "libvirt node devices",
        "local": "udev (this machine)",
    }[kind]


def cpu_mem(h: Host, kind: str, local: HostSample | None) -> tuple[str, str]:
    """The host's own CPU% and memory: libvirt's for a remote host, psutil's for this machine;
    a test-driver host has none of its own."""
    if not h.up:
        return DASH, DASH
    r = h.remote
    if kind == "remote" and r is not None:
        cpu = fmt_pct(r.cpu_pct).strip()
        if r.mem_total_kib and r.mem_free_kib is not None:
            used = (r.mem_total_kib - r.mem_free_kib) * 1024
            return cpu, f"{fmt_bytes(used)}/{fmt_bytes(r.mem_total_kib * 1024)}"
        return cpu, DASH
    if kind == "local" and local is not None:
        used = local.mem_total - local.mem_available
        return fmt_pct(local.cpu_total).strip(), f"{fmt_bytes(used)}/{fmt_bytes(local.mem_total)}"
    return DASH, DASH


def state_text(h: Host) -> Text:
    """The state, and while not up the short cause (the full one is under the list)."""
    out = Text(h.state.value, style=LINK_STYLE[h.state])
    stale = h.stale_for()
    if stale is not None:
        out.append(f", stale {stale:.0f}s", style="yellow")
    if not h.up and h.report is not None and h.report.failure is not None:
        out.append(f": {terminal_safe(h.report.failure.summary)}", style=LINK_STYLE[h.state])
    elif not h.up and h.report is not None and h.report.error:
        out.append(f": {terminal_safe(h.report.error)}", style=LINK_STYLE[h.state])
    return out


def host_row(h: Host, kind: str, local: HostSample | None) -> tuple[Text, ...]:
    """One host's cells (plain text: labels, URIs and causes come from outside)."""
    running = sum(1 for g in h.guests.values() if g.sample.active)
    cpu, mem = cpu_mem(h, kind, local)
    poll = f"{h.latency_s * 1000:.0f} ms" if h.latency_s is not None and h.up else DASH
    guests = f"{running}/{len(h.guests)}" if h.polls else DASH
    return (
        Text(terminal_safe(h.label), style="bold"),
        state_text(h),
        Text(guests, justify="right"),
        Text(cpu, justify="right"),
        Text(mem, justify="right"),
        Text(poll, justify="right"),
        Text(usb_source(kind)),
        Text(terminal_safe(h.uri_text or str(h.id)), style="dim"),
    )


def cause_text(h: Host) -> Text:
    """The selected host in full: label, URI, hostname, and why it is not up with the fix."""
    out = Text()
    out.append(terminal_safe(h.label), style="bold")  # labels, URIs, causes: from outside
    out.append(f"  {terminal_safe(h.uri_text or h.id)}", style="dim")
    if h.hostname:
        out.append(f"  (libvirt hostname {terminal_safe(h.hostname)})", style="dim")
    out.append("\n")
    out.append(h.state.value, style=LINK_STYLE[h.state])
    report = h.report
    failure = report.failure if report is not None else None
    if h.up:
        out.append(f": {len(h.guests)} guests")
    elif failure is not None:
        out.append(f": {terminal_safe(failure.summary)}")
        if failure.fix:
            out.append("\nfix: ", style="bold")
            out.append(terminal_safe(failure.fix, multiline=True))
    elif report is not None and report.error:
        out.append(f": {terminal_safe(report.error, multiline=True)}")
    if h.state is LinkState.RECONNECTING:
        out.append("\nr tries again now.", style="dim")
    return out


class HostsScreen(Screen[None]):
    """Every host, one line each."""

    BINDINGS = actions.bindings("hosts")
    DEFAULT_CSS = """
    HostsScreen #hosts-title { padding: 0 1; background: $boost; width: 1fr; height: 1; }
    HostsScreen DataTable { height: 1fr; }
    HostsScreen #hosts-cause { height: auto; max-height: 6; padding: 0 1; border-top: solid $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, tuple[Text, ...]] = {}
        self.renders = 0

    @property
    def deck(self) -> Deck:
        return deck_of(self)

    def compose(self) -> ComposeResult:
        yield Label("", id="hosts-title")
        table: DataTable[Cell] = DataTable(id="hosts-table", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        yield table
        yield Static("", id="hosts-cause")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.render_fleet(self.deck.fleet, Change(link=True))

    def _kind(self, h: Host) -> str:
        return host_kind(h, self.deck.services.is_test_uri(h.id.libvirt_uri))

    def render_fleet(self, fleet: Fleet, change: Change) -> None:
        """The app's call for the screen on top: rows whose cells changed are rewritten."""
        if not (change.link or change.hosts or change.local or change.polled):  # latency
            return
        table = self.query_one(DataTable)
        hosts = list(fleet.hosts.values())
        title = Text("Hosts  ", style="bold")
        title.append_text(summary_line(hosts, key=""))
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#hosts-title", Label).update(title)
        for h in hosts:
            row_key = h.id.uri or "\x00default"
            cells = host_row(h, self._kind(h), fleet.local)
            old = self._rows.get(row_key)
            if old is None:
                table.add_row(*cells, key=row_key)
            elif [c.plain for c in old] != [c.plain for c in cells]:
                for col, (a, b) in enumerate(zip(old, cells, strict=True)):
                    if a.plain != b.plain or a.style != b.style:
                        table.update_cell_at(Coordinate(table.get_row_index(row_key), col), b)
            self._rows[row_key] = cells
        self.renders += 1
        self._show_cause()

    def selected(self) -> Host | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        row_key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        uri = "" if row_key == "\x00default" else str(row_key)
        return self.deck.fleet.hosts.get(HostId(uri))

    def _show_cause(self) -> None:
        h = self.selected()
        self.query_one("#hosts-cause", Static).update(cause_text(h) if h is not None else "")

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_cause()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_only()

    # -- actions -------------------------------------------------------------------------
    def action_reconnect(self) -> None:
        h = self.selected()
        if h is None:
            return
        what = self.deck.reconnect_now(h.id)
        text = f"{h.label}: {what}"
        self.app.notify(text, timeout=4, markup=False)
        self.deck.log_event(text)

    def action_only(self) -> None:
        """Back to the guest list, showing this host's guests only (a ``host:`` filter)."""
        h = self.selected()
        if h is None:
            return
        self.dismiss()
        self.deck.show_host_only(h.label)
