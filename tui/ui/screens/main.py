"""The dashboard: hosts bar, host panel, guest table, event log, filter line.

The screen owns its behaviour: guest actions, the console key, filter and sort. It renders
from the app's fleet (``render_fleet``) and holds no canonical state.

Guest keys are state-aware: a key that cannot apply to the selected guest ("web is already
running") is greyed in the footer (``check_action``) and, when pressed, refused with that
reason (a notification and an event-log line; :func:`tui.ui.actions.intercept` asks
:meth:`MainScreen.refusal`) instead of libvirt's raw error. Every guest-supplied string is
shown as plain text.
"""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, RichLog

from tui.model.fleet import Change, Fleet, Guest
from tui.model.guest import GuestState
from tui.model.ids import HostId
from tui.ui import actions
from tui.ui.bulk import FleetKeys
from tui.ui.deck import Deck, deck_of
from tui.ui.widgets.footer import KeysFooter
from tui.ui.widgets.guest_table import GuestTable
from tui.ui.widgets.host_panel import HostPanel
from tui.ui.widgets.hosts_bar import GuestCounts, HostsBar, host_lines

REFRESH_STEPS = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]
LOG_LINES = 3  # the event log's least height (with its border); it takes what the rows leave
# The keys greyed by the selected guest's state: (action name, parameters) -> binding id.
GATED: dict[tuple[str, tuple[object, ...]], str] = {
    ("guest", ("start",)): "guest.start",
    ("guest", ("shutdown",)): "guest.shutdown",
    ("guest", ("reboot",)): "guest.reboot",
    ("guest", ("pause",)): "guest.pause",
    ("guest", ("destroy",)): "guest.destroy",
    ("console", ()): "guest.console",
}


class MainScreen(FleetKeys, Screen[None]):
    """The dashboard."""

    BINDINGS = actions.bindings("main")

    def __init__(self, show_host_column: bool = False) -> None:
        super().__init__()
        self.show_host_column = show_host_column
        self._logged = 0  # fleet event lines already written to the log widget
        self._columns: tuple[str, ...] = ()
        self._gates: tuple[bool, ...] = ()  # the gated keys' state, last shown in the footer
        self._fitted: tuple[int, ...] = ()
        self._guest_counts = GuestCounts()  # the summary line's guests, per host

    @property
    def deck(self) -> Deck:
        return deck_of(self)

    def on_mount(self) -> None:
        self._columns = self.table.stat_columns
        self.table.focus()
        self.call_after_refresh(self.deck.main_ready)

    def compose(self) -> ComposeResult:
        yield HostsBar(id="hosts")
        yield HostPanel(id="host-panel")
        with Vertical(id="guests"):
            yield GuestTable(show_host=self.show_host_column, id="guest-table")
        yield RichLog(id="events", markup=False, wrap=True, max_lines=500)
        yield Input(placeholder="filter: name or host:NAME (Enter keeps, Esc clears)", id="filter")
        yield KeysFooter(id="footer")

    @property
    def table(self) -> GuestTable:
        return self.query_one(GuestTable)

    def stat_columns(self) -> tuple[str, ...]:
        """The libvirt stat groups the visible columns need (read by the poll, on the loop)."""
        return self._columns

    @on(GuestTable.LayoutChanged)
    def _layout_changed(self, _event: GuestTable.LayoutChanged) -> None:
        """The table's columns follow the width; the polls ask for their stat groups only."""
        self._columns = self.table.stat_columns
        self._fit_log()

    # -- the footer shows the keys of the screen on top only -------------------------------
    def on_screen_suspend(self) -> None:
        self.query_one(KeysFooter).display = False  # a dialog on top has its own keys

    def on_screen_resume(self) -> None:
        self.query_one(KeysFooter).display = True
        self._update_gates(force=True)

    # -- rendering -----------------------------------------------------------------------
    def render_fleet(self, fleet: Fleet, change: Change) -> None:
        try:
            panel = self.query_one(HostPanel)
        except NoMatches:  # the app is quitting: its widgets are going away
            return
        panel.render_fleet(fleet, change)
        self.table.set_viewers(self.deck.guests.viewer_pids())
        if change.hosts or change.removed or change.polled:
            self.table.sync(fleet, change)
        if change.link or change.hosts:
            self._render_hosts(fleet, change.hosts)
        self._write_events(fleet)
        self._update_gates()
        self.call_after_refresh(self._fit_log)  # the panel's and the table's new sizes

    def _render_hosts(self, fleet: Fleet, changed: Collection[HostId] | None = None) -> None:
        """The hosts bar; ``changed``: the hosts whose guests may have changed (None: all)."""
        app = self.deck
        key = actions.keys_hint(actions.BY_ID["hosts"], app.settings.keymap)
        counts = self._guest_counts.update(fleet, changed)
        lines = host_lines(list(fleet.hosts.values()), key, counts)  # many: one summary line
        self.query_one(HostsBar).show(lines, app.vt.badge, app.is_demo, app.refresh_s, app.readonly)

    def _write_events(self, fleet: Fleet) -> None:
        log = self.query_one("#events", RichLog)
        total = fleet.logged
        new = min(total - self._logged, len(fleet.events))
        for line in list(fleet.events)[len(fleet.events) - new :] if new > 0 else []:
            log.write(Text(line))
        self._logged = total

    def on_resize(self) -> None:
        self._fit_log()

    def _fit_log(self) -> None:
        """Every guest row on screen before event-log lines: the log gets all the table
        leaves, at least LOG_LINES (a tall terminal: a tall log; 80x24 with a big panel: 2)."""
        fixed: list[Widget] = [self.query_one(HostsBar), self.query_one(HostPanel)]
        footer = self.query_one(KeysFooter)
        table = self.table
        box = self.query_one("#filter", Input)  # docked over the table's bottom rows
        used = sum(w.outer_size.height for w in fixed) + (1 if footer.display else 0)
        used += box.outer_size.height + 1 if box.has_class("visible") else 0
        key = (self.size.height, used, table.row_count)
        if key == self._fitted or not self.size.height:
            return
        self._fitted = key
        room = self.size.height - used - (table.row_count + 2)  # rows, header, one spare
        log = self.query_one("#events", RichLog)
        want = max(LOG_LINES, room)
        if log.styles.height is None or log.styles.height.value != want:
            log.styles.height = want

    def select_row(self, row: str) -> None:
        self.table.select_row(row)

    @on(GuestTable.RowHighlighted, "#guest-table")
    def _row_highlighted(self, _event: GuestTable.RowHighlighted) -> None:
        self._update_gates()

    # -- state-aware keys ----------------------------------------------------------------

    def _state_refusal(self, name: str, params: tuple[object, ...]) -> tuple[str, str] | None:
        """(binding id, why) a gated key cannot apply to the selected guest (marks: bulk.py)."""
        action_id = GATED.get((name, tuple(params)))
        if action_id is None or (name == "guest" and self.table.marks):
            return None
        g = self.table.selected_guest()
        if g is None:
            return action_id, "no guest selected"
        reason = self._guest_refusal(g, "console" if name == "console" else str(params[0]))
        return (action_id, reason) if reason is not None else None

    def _guest_refusal(self, g: Guest, verb: str) -> str | None:
        return self.deck.guests.refusal(g, verb)

    def refusal(self, name: str, params: tuple[object, ...]) -> tuple[str, str] | None:
        """For :func:`tui.ui.actions.intercept`: a pressed key that may not act now, and why.

        A key never acts on a row that is not on screen: the table keeps the selected row in
        view (after sorts, resizes, wheel scrolls; a selection made elsewhere is scrolled to
        at the next refresh), and a table with no room for a row refuses."""
        action_id = GATED.get((name, tuple(params)))
        if action_id is None:
            return None
        table = self.table
        if table.row_count and not table.visible_rows():
            return action_id, "the guest list has no room on screen: enlarge the terminal"
        if table.row_count and not table.cursor_visible():
            table.show_cursor_row()  # only between a selection and its scroll: show it now
        return self._state_refusal(name, params)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Greyed (None): mutating keys under --readonly, and keys the selected guest's state
        refuses. Both say why when pressed (see :func:`tui.ui.actions.intercept`)."""
        if actions.check_state(action, parameters, self.deck.readonly) is None:
            return None
        if self._state_refusal(action, parameters) is not None:
            return None
        return True

    def footer_labels(self) -> dict[str, tuple[str, str]]:
        """Keys named for the selected guest's state (label, short): p resumes a paused one."""
        g = self.table.selected_guest()
        if g is not None and g.sample.state_code == GuestState.PAUSED:
            return {"guest('pause')": ("Resume", "Resume")}
        return {}

    def _update_gates(self, force: bool = False) -> None:
        """Refresh the footer when a gated key's state changed (the footer recomposes: not on
        every tick)."""
        gates = tuple(self._state_refusal(n, p) is None for n, p in GATED)
        gates += (bool(self.footer_labels()),)
        if force or gates != self._gates:
            self._gates = gates
            self.refresh_bindings()

    # -- guest actions -------------------------------------------------------------------
    def _selected(self) -> Guest | None:
        g = self.table.selected_guest()
        if g is None:
            self.app.notify("No guest selected.", severity="warning")
        return g

    def action_guest(self, verb: str) -> None:
        if self.table.marks:
            self._bulk(verb)
            return
        g = self._selected()
        if g is not None:
            self.deck.guests.run(g.key, verb)

    def action_console(self) -> None:
        g = self._selected()
        if g is not None:
            self.deck.guests.console(g.key)

    def action_detail(self) -> None:
        g = self.table.selected_guest()
        if g is None:
            return
        from tui.ui.screens.detail import GuestDetailScreen

        host = self.deck.fleet.host(g.key.host)
        self.app.push_screen(GuestDetailScreen(g.key, f"{g.name} on {host.label}"))

    @on(GuestTable.RowSelected, "#guest-table")
    def _row_selected(self, _event: GuestTable.RowSelected) -> None:
        """Enter on a row (the table's own binding) opens the guest's detail."""
        self.action_detail()

    # -- view ----------------------------------------------------------------------------
    def action_sort(self, what: str) -> None:
        self.table.set_sort(what)

    def action_first_guest(self) -> None:
        self.table.action_first_guest()

    def action_last_guest(self) -> None:
        self.table.action_last_guest()

    def action_refresh_rate(self, direction: int) -> None:
        app = self.deck
        cur = min(range(len(REFRESH_STEPS)), key=lambda i: abs(REFRESH_STEPS[i] - app.refresh_s))
        nxt = max(0, min(len(REFRESH_STEPS) - 1, cur + direction))
        app.set_refresh(REFRESH_STEPS[nxt])
        self.app.notify(f"Refresh every {app.refresh_s:g} s", timeout=2)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()
        self.call_after_refresh(self._fit_log)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self.call_after_refresh(self._fit_log)  # fewer rows: the log takes what they leave now

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        """Enter keeps the filter (the box stays, showing it) and goes back to the table."""
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        """Esc clears the filter, while typing it or after Enter kept it."""
        box = self.query_one("#filter", Input)
        if event.key == "escape" and (box.has_focus or box.value):
            self.table.set_filter("", now=True)  # the rows first: the box's Changed comes later
            box.value = ""
            box.remove_class("visible")
            self.call_after_refresh(self._fit_log)
            self.table.focus()
            event.stop()
