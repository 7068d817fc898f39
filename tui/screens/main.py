"""The dashboard: hosts bar, host panel, guest table, event log, filter line."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer, Input, RichLog, Static

from tui.widgets.guest_table import GuestTable
from tui.widgets.host_panel import HostPanel


class HostsBar(Static):
    """One line per host: state, name, URI; the DEMO marker and the KVM badge."""

    DEFAULT_CSS = """
    HostsBar { height: auto; background: $boost; padding: 0 1; }
    """

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
        head.append(f"  {badge}", style="bold")
        head.append(f"   refresh {refresh:g}s", style="dim")
        out = Text("\n").join([head, *lines])
        self.update(out)


def compose_main(show_host_column: bool) -> ComposeResult:
    yield HostsBar(id="hosts")
    yield HostPanel(id="host-panel")
    with Vertical(id="guests"):
        yield GuestTable(show_host=show_host_column, id="guest-table")
    yield RichLog(id="events", markup=False, wrap=False, max_lines=500)
    yield Input(placeholder="filter guests by name (Enter to keep, Esc to clear)", id="filter")
    yield Footer()
