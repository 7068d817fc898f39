"""The dashboard: hosts bar, host panel, guest table, event log, filter line."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, RichLog, Static

from tui.ui.widgets.guest_table import GuestTable
from tui.ui.widgets.host_panel import HostPanel


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
        head.append(f"  {badge}", style="bold")
        head.append(f"   refresh {refresh:g}s", style="dim")
        out = Text("\n").join([head, *lines])
        if out == self._last:
            return  # nothing changed: no repaint at all
        # Its height only changes with the number of lines (hosts): skip the layout pass else.
        same_height = self._last is not None and len(self._last.split()) == len(out.split())
        self._last = out
        self.update(out, layout=not same_height)


class MainScreen(Screen[None]):
    """The dashboard. Its keys call the app's actions; the app feeds its widgets."""

    BINDINGS = [
        Binding("enter", "app.detail", "Detail", id="guest.detail", show=False),
        Binding("s", "app.guest('start')", "Start", id="guest.start"),
        Binding("h", "app.guest('shutdown')", "Shutdown", id="guest.shutdown"),
        Binding("r", "app.guest('reboot')", "Reboot", id="guest.reboot"),
        Binding("p", "app.guest('pause')", "Pause/Resume", id="guest.pause"),
        Binding("X", "app.guest('destroy')", "Force off", id="guest.destroy"),
        Binding("v", "app.console", "Console", id="guest.console"),
        Binding("u", "app.usb", "USB", id="usb"),
        Binding("d", "app.doctor", "Doctor", id="doctor"),
        Binding("slash", "app.filter", "Filter", id="filter"),
        Binding("w", "app.viewers", "Viewers", id="viewers", show=False),
        Binding("P", "app.sort('cpu')", "Sort CPU", id="sort.cpu", show=False),
        Binding("M", "app.sort('mem')", "Sort mem", id="sort.mem", show=False),
        Binding("N", "app.sort('name')", "Sort name", id="sort.name", show=False),
        Binding("B", "app.sort('disk')", "Sort disk", id="sort.disk", show=False),
        Binding("T", "app.sort('net')", "Sort net", id="sort.net", show=False),
        Binding("plus", "app.refresh_rate(-1)", "Faster", id="refresh.faster", show=False),
        Binding("minus", "app.refresh_rate(1)", "Slower", id="refresh.slower", show=False),
    ]

    def __init__(self, show_host_column: bool = False) -> None:
        super().__init__()
        self.show_host_column = show_host_column

    def on_mount(self) -> None:
        ready = getattr(self.app, "main_ready", None)
        if ready is not None:
            self.call_after_refresh(ready)

    def compose(self) -> ComposeResult:
        yield HostsBar(id="hosts")
        yield HostPanel(id="host-panel")
        with Vertical(id="guests"):
            yield GuestTable(show_host=self.show_host_column, id="guest-table")
        yield RichLog(id="events", markup=False, wrap=False, max_lines=500)
        yield Input(placeholder="filter guests by name (Enter to keep, Esc to clear)", id="filter")
        yield Footer()
