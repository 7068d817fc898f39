"""A guest's snapshots (``z``): the tree with the current one marked; create, revert, delete.

Every libvirt call goes through the host's ``snapshots`` family (``tui.core.ports.SnapshotOps``)
on the runner (daemon threads):
taking a snapshot with memory under TCG takes seconds, and the screen shows that it is at work
(a line with the elapsed time) and refuses a second operation meanwhile. Revert and delete ask
first. What the disks cannot do (a raw disk: internal snapshots need qcow2) is said up front
and again when ``n`` is pressed. Guest-supplied strings (names, descriptions) are plain text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from tui.core.ports import BackendError, SnapshotOps
from tui.model.ids import GuestKey
from tui.model.snapshots import Snapshot, SnapshotList, name_problem, tree_guides
from tui.ui import actions
from tui.ui.deck import Deck, deck_of
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

CURRENT = "●"
NONE_YET = "No snapshots yet: n takes one."

T = TypeVar("T")


def snapshot_rows(snaps: SnapshotList) -> list[tuple[str, Text, str, str, str, Text]]:
    """(row key, name with tree indent and current mark, created, state, memory, description)."""
    rows = []
    for guide, s in tree_guides(snaps.snapshots):
        name = Text(guide)
        name.append(f"{CURRENT} " if s.current else "  ", style="bold green")
        name.append(terminal_safe(s.name), style="bold" if s.current else "")
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created)) if s.created else ""
        rows.append(
            (
                s.name,
                name,
                created,
                terminal_safe(s.state),
                "memory" if s.memory else "disk",
                Text(terminal_safe(s.description.replace("\n", " "))),
            )
        )
    return rows


def memory_reason(active: bool) -> str:
    """Why the new snapshot dialog does not offer the other kind."""
    if active:
        return (
            "A running guest's snapshot always holds its memory: libvirt 9 takes a disk-only"
            " snapshot of a running guest only as external files. Shut the guest down first"
            " for a disk-only one."
        )
    return "The guest is shut off: there is no memory state to keep. Start it first for one."


class NewSnapshotScreen(ModalScreen[tuple[str, str, bool] | None]):
    """Name, description, with or without memory. Enter in a field creates; Esc cancels."""

    BINDINGS = actions.bindings("snapshot_new")
    DEFAULT_CSS = """
    NewSnapshotScreen { align: center middle; }
    NewSnapshotScreen > Vertical {
        width: 100%; max-width: 72; height: auto; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    NewSnapshotScreen Input { margin-bottom: 0; }
    NewSnapshotScreen #snap-problem { color: $error; height: auto; }
    NewSnapshotScreen Horizontal { height: auto; align: right middle; }
    """

    def __init__(self, guest: str, active: bool, taken: list[str]) -> None:
        super().__init__()
        self.guest = guest
        self.active = active
        self.taken = taken

    def compose(self) -> ComposeResult:
        default = time.strftime("snap-%Y%m%d-%H%M%S")
        with Vertical():
            yield Label(Text(terminal_safe(f"New snapshot of {self.guest}"), style="bold"))
            yield Input(value=default, placeholder="name", id="snap-name")
            yield Input(placeholder="description (optional)", id="snap-desc")
            # Only what libvirt 9 takes: a running guest's internal snapshot holds its memory
            # (disk-only would be external files), a shut-off guest's holds none.
            memory = Checkbox(
                "with memory state (resumes where it was; the guest runs)"
                if self.active
                else "disk only (the guest is shut off: no memory state)",
                value=self.active,
                disabled=True,
                id="snap-memory",
            )
            yield memory
            yield Static("", id="snap-problem")
            with Horizontal():
                yield Button("Cancel (Esc)", id="snap-cancel")
                yield Button("Create (Enter)", id="snap-create", variant="primary")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#snap-name", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_toggle_memory(self) -> None:
        """The guest's state decides (libvirt 9): say why instead of offering a refusal."""
        self.query_one("#snap-problem", Static).update(Text(memory_reason(self.active)))

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "snap-create":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        name = self.query_one("#snap-name", Input).value.strip()
        problem = name_problem(name, self.taken)
        if problem:
            self.query_one("#snap-problem", Static).update(Text(terminal_safe(problem)))
            return
        desc = self.query_one("#snap-desc", Input).value.strip()
        memory = self.active and self.query_one("#snap-memory", Checkbox).value
        self.dismiss((name, desc, memory))


class SnapshotsScreen(Screen[None]):
    BINDINGS = actions.bindings("snapshots")
    DEFAULT_CSS = """
    SnapshotsScreen #snap-title { padding: 0 1; }
    SnapshotsScreen #snap-facts { padding: 0 1; height: auto; color: $text-muted; }
    SnapshotsScreen #snap-busy { padding: 0 1; height: auto; color: $warning; }
    SnapshotsScreen DataTable { height: 1fr; }
    """

    def __init__(self, key: GuestKey, name: str, host_label: str) -> None:
        super().__init__()
        self.key = key
        self.guest_name = name
        self.host_label = host_label
        self.snaps: SnapshotList | None = None
        self.busy = ""  # what runs now ("creating snap1 with memory"), "" when idle
        self._busy_since = 0.0
        self.loads = 0  # lists applied (tests wait on it)

    def _on(self) -> str:
        """`` on HOST`` in questions when there is more than one host."""
        return f" on {self.host_label}" if len(self.deck.fleet.hosts) > 1 else ""

    def compose(self) -> ComposeResult:
        title = Text(
            terminal_safe(f"Snapshots of {self.guest_name} on {self.host_label}"), style="bold"
        )
        yield Label(title, id="snap-title")
        yield Static("reading snapshots…", id="snap-facts")
        yield Static("", id="snap-busy")
        table: DataTable[str | Text] = DataTable(
            id="snap-table", cursor_type="row", zebra_stripes=True
        )
        table.add_columns("Snapshot", "Created", "Guest was", "Holds", "Description")
        yield table
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.set_interval(0.5, self._tick_busy)
        self.reload()

    @property
    def deck(self) -> Deck:
        return deck_of(self)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return actions.check_state(action, parameters, self.deck.readonly)

    # -- the runner ----------------------------------------------------------------------
    def _ops(self) -> SnapshotOps | None:
        """The host's snapshot family while it is connected, or None after saying why."""
        if not self.deck.is_up(self.key.host) or self.deck.runner is None:
            self.app.notify(f"{self.key.host} is not connected.", severity="error", markup=False)
            return None
        ops = self.deck.caps(self.key.host).snapshots
        if ops is None:
            self.app.notify("Snapshots are not available here.", severity="warning")
        return ops

    def _submit(
        self, what: str, call: Callable[[SnapshotOps], T], done: Callable[[T], None], busy: str = ""
    ) -> None:
        ops = self._ops()
        if ops is None:
            return
        if busy:
            self._set_busy(busy)

        def failed(exc: BaseException) -> bool:
            self._set_busy("")
            if not isinstance(exc, BackendError):
                return False
            self.app.notify(exc.message, title="Snapshots", severity="error", markup=False)
            self.deck.log_event(exc.message, key=self.key)
            self.reload()
            return True

        def ok(result: T) -> None:
            self._set_busy("")
            done(result)

        runner = self.deck.runner
        assert runner is not None  # checked by _ops
        runner.submit(what, lambda: call(ops), done=ok, failed=failed)

    def _set_busy(self, text: str) -> None:
        self.busy = text
        self._busy_since = time.monotonic()
        self._tick_busy()

    def _tick_busy(self) -> None:
        try:
            line = self.query_one("#snap-busy", Static)
        except Exception:  # unmounting
            return
        if not self.busy:
            line.update("")
            return
        spent = time.monotonic() - self._busy_since
        spin = "|/-\\"[int(spent * 2) % 4]
        line.update(Text(terminal_safe(f"{spin} {self.busy}… {spent:.0f} s")))

    # -- the list ------------------------------------------------------------------------
    def reload(self) -> None:
        uuid = self.key.uuid
        self._submit(f"snapshots of {self.guest_name}", lambda ops: ops.list(uuid), self.show)

    def show(self, snaps: SnapshotList) -> None:
        self.snaps = snaps
        self.loads += 1
        table = self.query_one(DataTable)
        keep = self.selected()
        table.clear()
        for row_key, *cells in snapshot_rows(snaps):
            table.add_row(*cells, key=row_key)
        names = [s.name for s in snaps.snapshots]
        if keep in names:
            table.move_cursor(row=[r for r, *_ in snapshot_rows(snaps)].index(keep))
        facts = [f"{len(names)} snapshot{'' if len(names) == 1 else 's'}"]
        current = next((s.name for s in snaps.snapshots if s.current), None)
        if current:
            facts.append(f"current: {CURRENT} {current}")
        facts.append("guest running" if snaps.active else "guest shut off")
        text = Text(terminal_safe(" · ".join(facts)))
        if snaps.blocked:
            text.append("\n" + terminal_safe(snaps.blocked, multiline=True), style="bold red")
        elif not names:
            text.append("\n" + NONE_YET)
        self.query_one("#snap-facts", Static).update(text)

    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value) if row_key.value is not None else None

    def _selected_snapshot(self) -> Snapshot | None:
        name = self.selected()
        if self.snaps is None or name is None:
            self.app.notify("No snapshot selected.", severity="warning")
            return None
        return next((s for s in self.snaps.snapshots if s.name == name), None)

    def _not_busy(self, action_id: str) -> bool:
        if self.busy:
            actions.say_refused(self.deck, action_id, f"wait: {self.busy}")
            return False
        return True

    # -- keys ----------------------------------------------------------------------------
    def action_close(self) -> None:
        self.app.pop_screen()

    def action_snapshot_create(self) -> None:
        if actions.refuse(self.deck, "snapshots.create") or not self._not_busy("snapshots.create"):
            return
        snaps = self.snaps
        if snaps is None:
            return
        if snaps.blocked:
            self.app.notify(snaps.blocked, title="Snapshots", severity="error", markup=False)
            return
        taken = [s.name for s in snaps.snapshots]

        def chosen(got: tuple[str, str, bool] | None) -> None:
            if got is not None:
                self.create(*got)

        self.app.push_screen(NewSnapshotScreen(self.guest_name, snaps.active, taken), chosen)

    def create(self, name: str, description: str, memory: bool) -> None:
        uuid = self.key.uuid
        kind = "with memory" if memory else "disk only"
        self._submit(
            f"snapshot {name}",
            lambda ops: ops.create(uuid, name, description, memory),
            self._done,
            busy=f"creating {name} ({kind})",
        )

    def action_snapshot_revert(self) -> None:
        if actions.refuse(self.deck, "snapshots.revert") or not self._not_busy("snapshots.revert"):
            return
        s = self._selected_snapshot()
        if s is None:
            return
        state = "running, from its saved memory" if s.memory else s.state or "as saved"
        question = (
            f"Revert {self.guest_name}{self._on()} to snapshot '{s.name}'? Its disks (and memory) go back"
            f" to that moment; everything since is lost. It will be {state}."
        )
        self._ask(question, "Revert", lambda: self._revert(s.name))

    def _revert(self, name: str) -> None:
        uuid = self.key.uuid
        self._submit(
            f"revert to {name}",
            lambda ops: ops.revert(uuid, name),
            self._done,
            busy=f"reverting to {name}",
        )

    def action_snapshot_delete(self) -> None:
        if actions.refuse(self.deck, "snapshots.delete") or not self._not_busy("snapshots.delete"):
            return
        s = self._selected_snapshot()
        if s is None:
            return
        question = (
            f"Delete snapshot '{s.name}' of {self.guest_name}{self._on()}? It cannot be reverted to"
        )
        question += " afterwards (its children stay)." if s else "."
        self._ask(question, "Delete", lambda: self._delete(s.name))

    def _delete(self, name: str) -> None:
        uuid = self.key.uuid
        self._submit(
            f"delete snapshot {name}",
            lambda ops: ops.delete(uuid, name),
            self._done,
            busy=f"deleting {name}",
        )

    def _ask(self, question: str, yes: str, then: Callable[[], None]) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmScreen(question, yes_label=yes), answered)

    def _done(self, message: str) -> None:
        self.app.notify(message, title="Snapshots", markup=False)
        self.deck.log_event(message, key=self.key)
        self.reload()
