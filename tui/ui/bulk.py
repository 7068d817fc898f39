"""Bulk actions (issue 23): start, shut down, reboot, pause/resume, force off or snapshot every
marked guest, across hosts. One confirmation names the count (and the guests, the first few);
each guest is refused on its own when its state does not allow the action ("db is shut off",
never "paused"), and each result comes back from its host as its own event-log line.

The marks are the guest table's view state (:attr:`GuestTable.marks`, by ``GuestKey``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui.core.guest_rules import plural
from tui.core.ports import BackendError
from tui.model.fleet import Guest
from tui.model.guest import GuestState
from tui.model.ids import GuestKey
from tui.ui import actions
from tui.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui.ui.app import KvmDeckApp
    from tui.ui.screens.main import MainScreen

SHOWN = 8  # guests named in a confirmation; "… and N more" after them


@dataclass
class Batch:
    """A bulk action in flight: its guests' results are event-log lines, one toast sums up."""

    title: str
    waiting: set[tuple[GuestKey, str]]
    done: int = 0
    failed: list[str] = field(default_factory=list)


def bulk_result(app: KvmDeckApp, key: GuestKey, verb: str, ok: bool, text: str) -> bool:
    """A guest's result, if a bulk action waits for it (True: no toast of its own); the last
    one of a batch gives the batch's toast."""
    for batch in app.batches:
        if (key, verb) in batch.waiting:
            batch.waiting.discard((key, verb))
            if ok:
                batch.done += 1
            else:
                batch.failed.append(text)
            if not batch.waiting:
                app.batches.remove(batch)
                said = f"{batch.done} done" + (
                    f", {len(batch.failed)} failed" if batch.failed else ""
                )
                app.notify(
                    f"{said}. " + "; ".join(batch.failed[:3]) if batch.failed else said + ".",
                    title=batch.title,
                    severity="error" if batch.failed else "information",
                    timeout=8,
                    markup=False,
                )
            return True
    return False


def _listing(lines: list[str]) -> str:
    more = f"\n… and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    return "\n".join(lines[:SHOWN]) + more


def plan(screen: MainScreen, verb: str) -> tuple[list[tuple[Guest, str]], list[str]]:
    """For every marked guest: (guest, the verb it gets) or why it is refused. ``pause``
    resumes a paused guest and pauses a running one; a shut-off guest is refused."""
    app = screen.deck
    go: list[tuple[Guest, str]] = []
    refused: list[str] = []
    for g in screen.table.marked():
        reason = screen._guest_refusal(g, verb)
        if reason is not None:
            host = app.label(g.key.host)
            refused.append(reason if host in reason else f"{reason} (on {host})")
            continue
        real = verb
        if verb == "pause":
            real = "resume" if g.sample.state_code == GuestState.PAUSED else "pause"
        go.append((g, real))
    return go, refused


def ask(screen: MainScreen, verb: str) -> None:
    """One confirmation for the marked guests the action applies to; the refused ones are
    said (and logged) at once."""
    app = screen.deck
    action_id = f"guest.{verb}"
    if actions.refuse(app, action_id):
        return
    go, refused = plan(screen, verb)
    title = actions.BY_ID[action_id].title.replace("guest", "guests")
    for text in refused:
        app.log_event(f"refused {action_id}: {text}")
    if not go:
        why = "; ".join(refused[:SHOWN]) or "no marked guest"
        app.notify(why, title=title, severity="warning", markup=False)
        return
    hosts = {g.key.host for g, _v in go}
    where = f" on {plural(len(hosts), 'host')}" if len(hosts) > 1 else ""
    question = f"{title}: {plural(len(go), 'marked guest')}{where}?"
    if verb == "destroy":
        question += " Like pulling the power cord: unsaved data in them is lost."
    if refused:
        question += f" ({plural(len(refused), 'other')} refused: see the event log.)"
    question += "\n" + _listing([f"{g.name} on {app.label(g.key.host)}: {v}" for g, v in go])

    def answered(yes: bool | None) -> None:
        if yes:
            run(screen, action_id, [(g.key, v) for g, v in go])

    screen.app.push_screen(ConfirmScreen(question, yes_label=f"{title} ({len(go)})"), answered)


def run(screen: MainScreen, action_id: str, todo: list[tuple[GuestKey, str]]) -> None:
    """After "yes": each guest acts on its own; its result line comes back from its host
    (the controller's action_done); a state change meanwhile refuses that guest only."""
    app = screen.deck
    if actions.refuse(app, action_id):
        return
    base = action_id.split(".", 1)[1]
    go: list[tuple[GuestKey, str, str]] = []
    for key, verb in todo:
        g = app.fleet.guest(key)
        if g is None:
            continue
        reason = screen._guest_refusal(g, base)
        if reason is not None:
            app.log_event(f"refused {action_id}: {reason}", key=key)
            continue
        go.append((key, verb, g.name))
    if not go:
        return
    title = actions.BY_ID[action_id].title.replace("guest", "guests")
    app.batches.append(Batch(title, {(key, verb) for key, verb, _n in go}))  # before any result
    for key, verb, _name in go:
        app.request(key, verb)  # the app marks a shutdown pending and checks its deadline


def snapshot(screen: MainScreen) -> None:
    """A disk snapshot of every marked guest (or the selected one), one confirmation."""
    app = screen.deck
    if actions.refuse(app, "guest.snapshot_marked"):
        return
    table = screen.table
    guests = table.marked() or [g for g in [table.selected_guest()] if g is not None]
    go = [g for g in guests if app.caps(g.key.host).snapshots is not None]
    for g in guests:
        if g not in go:
            why = "not up" if not app.fleet.host(g.key.host).up else "has no snapshots"
            app.log_event(f"refused snapshot: {g.name} on {app.label(g.key.host)}: host {why}")
    if not go:
        app.notify("No guest to snapshot (none marked, or their hosts are not up).")
        return
    name = "kvmdeck-" + time.strftime("%Y%m%d-%H%M%S")
    question = f"Take snapshot '{name}' of {plural(len(go), 'guest')} (disks only)?\n"
    question += _listing([f"{g.name} on {app.label(g.key.host)}" for g in go])

    def answered(yes: bool | None) -> None:
        if yes:
            for g in go:
                _snapshot_one(screen, g, name)

    screen.app.push_screen(ConfirmScreen(question, yes_label="Snapshot"), answered)


def _snapshot_one(screen: MainScreen, g: Guest, snap: str) -> None:
    app = screen.deck
    ops = app.caps(g.key.host).snapshots
    runner = app.runner
    where = f"{g.name} on {app.label(g.key.host)}"
    if ops is None or runner is None:
        app.log_event(f"snapshot {snap} of {where}: host not connected", key=g.key)
        return
    uuid, key = g.key.uuid, g.key

    def failed(exc: BaseException) -> bool:
        if not isinstance(exc, BackendError):
            return False
        app.log_event(f"snapshot {snap} of {where} failed: {exc.message}", key=key)
        return True

    runner.submit(
        f"snapshot {where}",
        lambda: ops.create(uuid, snap, "taken by kvmdeck (bulk)", False),
        done=lambda _r: app.log_event(f"snapshot {snap} of {where} taken", key=key),
        failed=failed,
    )


class FleetKeys:
    """The main screen's fleet keys: marks, bulk actions, the hosts screen (a mixin: the
    screen's own code stays about one guest)."""

    def action_mark(self: MainScreen) -> None:  # type: ignore[misc]
        self.table.toggle_mark()
        self._update_gates(force=True)

    def action_mark_all(self: MainScreen) -> None:  # type: ignore[misc]
        n = self.table.mark_all()
        self.app.notify(f"{plural(n, 'guest')} marked", timeout=2)
        self._update_gates(force=True)

    def action_unmark_all(self: MainScreen) -> None:  # type: ignore[misc]
        self.table.clear_marks()
        self._update_gates(force=True)

    def _bulk(self: MainScreen, verb: str) -> None:  # type: ignore[misc]
        ask(self, verb)

    def action_snapshot_marked(self: MainScreen) -> None:  # type: ignore[misc]
        """Z: a disk snapshot of every marked guest (or the selected one)."""
        snapshot(self)

    def action_hosts(self: MainScreen) -> None:  # type: ignore[misc]
        from tui.ui.screens.hosts import HostsScreen

        self.app.push_screen(HostsScreen())

    def show_host_only(self: MainScreen, label: str) -> None:  # type: ignore[misc]
        """The hosts screen's "show only this host's guests": a ``host:`` filter, shown."""
        from textual.widgets import Input

        quoted = f'"{label}"' if any(c.isspace() for c in label) else label
        box = self.query_one("#filter", Input)
        box.value = f"host:{quoted}"
        box.add_class("visible")
        self.table.set_filter(box.value, now=True)
        self.table.focus()
