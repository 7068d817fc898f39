"""The dashboard: hosts bar, host panel, guest table, event log, filter line.

The screen owns its behaviour: guest actions, the console key, filter and sort. It renders
from the app's fleet (``render_fleet``) and holds no canonical state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, RichLog, Static

from tui.core.ports import BackendError
from tui.model.fleet import Change, Fleet, Host
from tui.model.guest import GuestState
from tui.model.link import LinkState
from tui.ui import actions
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.widgets.guest_table import GuestTable
from tui.ui.widgets.host_panel import HostPanel
from tui.util import DASH, fmt_bytes, fmt_pct

if TYPE_CHECKING:
    from tui.model.host import RemoteHostSample
    from tui.ui.app import KvmDeckApp

LINK_STYLE = {
    LinkState.UP: "green",
    LinkState.CONNECTING: "yellow",
    LinkState.RECONNECTING: "bold yellow",
    LinkState.DOWN: "bold red",
}
REFRESH_STEPS = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]


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


def host_line(h: Host) -> Text:
    """One line of the hosts bar: state, name, URI, and why it is not up. Plain text."""
    style = LINK_STYLE[h.state]
    line = Text()
    line.append("● ", style=style)
    line.append(h.label, style="bold")
    line.append(f"  {h.uri_text or h.id}  ", style="dim")
    line.append(h.state.value, style=style)
    stale = h.stale_for()
    if stale is not None:
        line.append(f"  figures stale for {stale:.0f} s", style="yellow")
    if not h.up and h.report is not None and h.report.error:
        line.append(f"  {h.report.error}", style=style)
    if h.up:
        n = len(h.guests)
        line.append(f"  {n} guest{'' if n == 1 else 's'}", style="dim")
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
    """The dashboard."""

    BINDINGS = actions.bindings("main")

    def __init__(self, show_host_column: bool = False) -> None:
        super().__init__()
        self.show_host_column = show_host_column
        self._logged = 0  # fleet event lines already written to the log widget

    @property
    def deck(self) -> KvmDeckApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self._columns = self.table.stat_columns
        self.table.focus()
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

    @property
    def table(self) -> GuestTable:
        return self.query_one(GuestTable)

    def stat_columns(self) -> tuple[str, ...]:
        """The libvirt stat groups the visible columns need (read by the poll, on the loop)."""
        return self._columns

    # -- rendering -----------------------------------------------------------------------
    def render_fleet(self, fleet: Fleet, change: Change) -> None:
        if change.local and fleet.local is not None:
            self.query_one(HostPanel).show(fleet.local, fleet.local_history)
        if change.hosts or change.removed:
            self.table.sync(fleet, change)
        if change.link or change.hosts:
            self._render_hosts(fleet)
        self._write_events(fleet)

    def _render_hosts(self, fleet: Fleet) -> None:
        app = self.deck
        lines = [host_line(h) for h in fleet.hosts.values()]
        self.query_one(HostsBar).show(lines, app.vt.badge, app.is_demo, app.refresh_s, app.readonly)

    def _write_events(self, fleet: Fleet) -> None:
        log = self.query_one("#events", RichLog)
        total = fleet.logged
        new = min(total - self._logged, len(fleet.events))
        for line in list(fleet.events)[len(fleet.events) - new :] if new > 0 else []:
            log.write(Text(line))
        self._logged = total

    def select_row(self, row: str) -> None:
        self.table.select_row(row)

    # -- guest actions -------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only: mutating keys are greyed (and say why when pressed, see actions)."""
        return actions.check_state(action, parameters, self.deck.readonly)

    def _selected(self) -> Any:
        g = self.table.selected_guest()
        if g is None:
            self.app.notify("No guest selected.", severity="warning")
        return g

    def action_guest(self, verb: str) -> None:
        g = self._selected()
        if g is None:
            return
        app = self.deck
        if actions.refuse(app, f"guest.{verb}"):
            return
        if verb == "pause":
            verb = "resume" if g.sample.state_code == GuestState.PAUSED else "pause"
        ctl = app.controllers[g.key.host]
        if verb != "destroy":
            ctl.act(g.key.uuid, g.name, verb)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                ctl.act(g.key.uuid, g.name, "destroy")

        app.push_screen(
            ConfirmScreen(
                f"Force off '{g.name}'? This is like pulling the power cord: "
                "unsaved data in the guest is lost.",
                yes_label="Force off",
            ),
            answered,
        )

    def action_console(self) -> None:
        g = self._selected()
        if g is None:
            return
        app = self.deck
        ctl = app.controllers[g.key.host]
        backend = ctl.backend
        if backend is None or app.runner is None or app.services.open_console is None:
            app.notify(f"{g.key.host} is not connected.", severity="error", markup=False)
            return
        app.notify(f"Opening the console of {g.name}…", timeout=3, markup=False)
        open_console = app.services.open_console
        launcher = app.consoles.launcher
        name = g.name

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, BackendError):
                return False
            app.notify(
                exc.message, title=f"Console of {name}", severity="error", timeout=10, markup=False
            )
            app.log_event(f"console {name}: {exc.message}")
            return True

        app.runner.submit(
            f"console {name}",
            lambda: open_console(backend.conn, name, ctl.uri, app.readonly, launcher),
            done=lambda result: self._console_opened(name, result),
            failed=failed,
        )

    def _console_opened(self, name: str, result: Any) -> None:
        app = self.deck
        if hasattr(result, "viewer"):  # a viewer was started
            failed = getattr(result.viewer.state, "value", "") == "failed"
            app.notify(result.message, severity="error" if failed else "information", markup=False)
            app.log_event(result.message)
            return
        from tui.ui.screens.console import ClientCommandDialog

        app.push_screen(ClientCommandDialog(result))

    def action_detail(self) -> None:
        g = self.table.selected_guest()
        if g is None:
            return
        from tui.ui.screens.detail import GuestDetailScreen

        host = self.deck.fleet.host(g.key.host)
        self.app.push_screen(GuestDetailScreen(g.key, f"{g.name} on {host.label}"))

    @on(DataTable.RowSelected, "#guest-table")
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        """Enter on a row (the table's own binding) opens the guest's detail."""
        self.action_detail()

    # -- view ----------------------------------------------------------------------------
    def action_sort(self, what: str) -> None:
        self.table.set_sort(what)

    def action_refresh_rate(self, direction: int) -> None:
        app = self.deck
        cur = min(range(len(REFRESH_STEPS)), key=lambda i: abs(REFRESH_STEPS[i] - app.refresh_s))
        nxt = max(0, min(len(REFRESH_STEPS) - 1, cur + direction))
        app.refresh_s = REFRESH_STEPS[nxt]
        app.notify(f"Refresh every {app.refresh_s:g} s", timeout=2)
        self._render_hosts(app.fleet)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and (box.has_focus or box.value):
            box.value = ""
            box.remove_class("visible")
            self.table.focus()
            event.stop()
