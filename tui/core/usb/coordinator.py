"""One USB coordinator per host, for the TUI and ``kvmdeck rules --run`` alike.

It holds the rule engine and the rule book (:class:`tui.core.usb.rulebook.RuleBook`: rules.toml
loaded, watched, saved), runs the executor through the host's :class:`HostdevPort`, and is the
**only holder** of the present devices, the owners view (who holds which device, from live and
saved XML), the rules' states and what the host can show (:class:`UsbHostStatus`). The UI
renders :meth:`UsbCoordinator.view`, an immutable snapshot (:class:`tui.core.usb.view.UsbView`),
and keeps no copy. No textual, no libvirt, no pyudev: the adapters come in through
:mod:`tui.core.usb.ports`.

Threading: every method runs on the event loop's thread. Blocking work (libvirt calls, rules.toml
I/O) goes to the runner as *jobs*, **one at a time** (a serial queue): an owners read never
overtakes the attach before it, and two actions on one host never race. Job results come back
on the loop's thread.

Semantics (tested once, in tests/rules/test_coordinator.py):

* Nothing is attached "present at start" until the engine knows the devices, the guests and
  who holds what (one snapshot of guests + owners).
* Lifecycle events and polls only ask for a snapshot; the snapshot's diff tells the engine
  which guests started or stopped, *after* the owners are known (a started guest may already
  hold its saved devices).
* Owners refreshes update statuses only; they never attach.
* Manual actions win: a device detached by hand stays detached until it is plugged in again;
  a device attached by hand to another guest is not taken back (the rule's line says so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tui.config import rules_path
from tui.core.usb import executor
from tui.core.usb.engine import RuleEngine
from tui.core.usb.jobs import Job, SerialJobs
from tui.core.usb.ports import BlockingRunner, HostdevPort
from tui.core.usb.requests import (
    HOLD_DETACHED,
    Request,
    UsbNote,
    describe_manual,
    describe_request,
    describe_result,
    format_status,
    held_elsewhere,
)
from tui.core.usb.rulebook import RuleBook
from tui.core.usb.rulelock import RulesLock
from tui.core.usb.rules import Rule
from tui.core.usb.view import UsbView, freeze
from tui.model.usb import HostdevError, HostdevResult, UsbDevice, UsbEvent, UsbOwners
from tui.model.usb_doctor import UsbHostStatus

LIFECYCLE_KINDS = ("started", "stopped", "crashed", "undefined", "defined")


log = logging.getLogger(__name__)


class UsbCoordinator:
    """USB of one host: feed it devices, guest events and polls; call its manual actions.
    Rules (load, reload on change, save) are its :attr:`rulebook`'s; the screen renders
    :meth:`view`."""

    def __init__(
        self,
        runner: BlockingRunner,
        *,
        rules_file: Path | None = None,
        readonly: bool = False,
        on_note: Callable[[UsbNote], None] | None = None,
        on_update: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner = runner
        self.rules_file = Path(rules_file) if rules_file is not None else rules_path()
        self.readonly = readonly
        self.on_note = on_note or (lambda _n: None)
        self.on_update = on_update or (lambda: None)
        self.clock = clock
        self.engine: RuleEngine | None = None
        self.rulebook = RuleBook(
            self,
            self.rules_file,
            readonly=readonly,
            clock=clock,
            on_note=lambda n: self.on_note(n),
            on_update=lambda: self.on_update(),
        )
        self.port: HostdevPort | None = None
        self.devices: dict[str, UsbDevice] = {}
        self.devices_known = False
        self.generation = 0  # the device set was replaced this many times
        self.source = ""  # where the devices come from ("udev on this host" …)
        self.host: UsbHostStatus | None = None  # can the host show USB at all
        self._view: UsbView | None = None
        self.owners = UsbOwners()
        self.running: dict[str, bool] = {}
        self.snapshot_done = False
        self.started = False  # the engine made its "present at start" pass
        self.failures = 0  # rule requests that failed (``rules --run --once`` exits 1)
        self.closed = False
        self.jobs = SerialJobs(runner)  # one blocking job at a time (tui.core.usb.jobs)
        self._snapshot_queued = False
        self._polled: dict[str, bool] | None = None
        self._started_pending: set[str] = set()

    # -- jobs: one at a time (tui.core.usb.jobs) ---------------------------------------------------
    @property
    def idle(self) -> bool:
        return self.jobs.idle

    def _enqueue(self, job: Job) -> None:
        self.jobs.enqueue(job)

    def _job(
        self,
        name: str,
        fn: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], bool | None] | None = None,
    ) -> None:
        self._enqueue(Job(name, fn, done, failed))

    def close(self) -> None:
        """Forget queued work (a job already running is abandoned) and release the lock."""
        self.closed = True
        self.jobs.close()
        if self.engine is not None and self.engine.lock is not None:
            self.engine.lock.release()

    # -- inputs --------------------------------------------------------------------------------
    def set_port(self, port: HostdevPort | None) -> None:
        """The host (re)connected (or went away: None). Reads guests and owners afresh."""
        self.port = port
        if port is not None:
            self.refresh_owners()

    def set_source(self, source: str, host: UsbHostStatus | None = None) -> None:
        """Where the devices come from, and what the host can show (None: not known)."""
        self.source = source
        self.host = host
        self.on_update()

    def set_devices(self, devices: Iterable[UsbDevice]) -> None:
        """The feed (re)started: the whole device set."""
        self.devices = {d.key: d for d in devices}
        self.devices_known = True
        self.generation += 1
        if self.started and self.engine is not None:
            self._submit(self.engine.sync(devices=self.devices.values()))
        self._maybe_start()
        self.on_update()

    def usb_events(self, events: list[UsbEvent]) -> None:
        """A batch from the feed (on the loop's thread)."""
        removed = False
        for ev in events:
            if ev.action == "remove":
                self.devices.pop(ev.device.key if ev.device else ev.sys_path, None)
                removed = True
            elif ev.device is not None and not (
                ev.device.devnum == 0 and ev.sys_path in self.devices
            ):
                self.devices[ev.device.key] = ev.device
        if self.started and self.engine is not None:
            requests = self.engine.on_usb_events(events)
            if log.isEnabledFor(logging.DEBUG):
                late = (time.time() - min(ev.wall for ev in events)) * 1000 if events else 0.0
                log.debug(
                    "usb events %s, read %.0f ms before: %d request(s)",
                    " ".join(ev.action for ev in events),
                    late,
                    len(requests),
                )
            self._submit(requests)
        if removed:
            self.refresh_owners()
        self.on_update()

    def guests_changed(self, running: dict[str, bool]) -> None:
        """A poll's view of the guests: a change (a missed event) asks for a snapshot."""
        if running != self._polled:
            self._polled = dict(running)
            if running != self.running:
                self.refresh_owners()

    def guest_event(self, name: str, kind: str) -> None:
        """A lifecycle event. A stop applies at once; a start waits for the owners."""
        if kind not in LIFECYCLE_KINDS:
            return
        if kind == "started":
            self._started_pending.add(name)
        elif self.started and self.engine is not None:
            self.engine.on_guest_event(name, kind)
            self._started_pending.discard(name)
            if kind in ("stopped", "crashed", "defined"):
                self.running[name] = False
            else:
                self.running.pop(name, None)
        self.refresh_owners()
        self.on_update()

    def refresh_owners(self) -> None:
        """Re-read guests and owners (coalesced: at most one snapshot waits in the queue)."""
        port = self.port
        if port is None or self._snapshot_queued:
            return
        self._snapshot_queued = True

        def read() -> tuple[dict[str, bool], UsbOwners]:
            return port.guest_states(), port.owners()

        def failed(exc: BaseException) -> bool:
            return isinstance(exc, HostdevError)  # the host went away: keep what we know

        def started() -> None:
            self._snapshot_queued = False  # reading now: a later change needs another read

        self._enqueue(Job("usb owners", read, self._snapshot, failed, on_start=started))

    def _snapshot(self, result: tuple[dict[str, bool], UsbOwners]) -> None:
        states, owners = result
        before, self.running = self.running, dict(states)
        self.owners = owners
        self.snapshot_done = True
        engine = self.engine
        if not self.started or engine is None:
            self._maybe_start()
            self.on_update()
            return
        engine.on_owners(owners.live_map(self.devices.values()))
        for name, was in before.items():
            if name not in states:
                engine.on_guest_event(name, "undefined")
            elif was and not states[name]:
                engine.on_guest_event(name, "stopped")
        for name, now in states.items():
            if name not in before and not now:
                engine.on_guest_event(name, "defined")
            elif now and (not before.get(name) or name in self._started_pending):
                self._submit(engine.on_guest_event(name, "started"))
        self._started_pending.clear()
        self.on_update()

    def _maybe_start(self) -> None:
        engine = self.engine
        if self.started or engine is None or not self.devices_known or not self.snapshot_done:
            return
        self.started = True
        self._started_pending.clear()
        devices = list(self.devices.values())
        self._submit(engine.sync(devices, self.running, self.owners.live_map(devices)))

    def tick(self) -> None:
        """About once a second: retries whose backoff expired, lock takeover, and a look at
        rules.toml (changed by hand or by another kvmdeck?) every few seconds."""
        if self.started and self.engine is not None:
            self._submit(self.engine.tick())
        self.rulebook.tick()

    # -- what the UI shows ---------------------------------------------------------------------
    def view(self) -> UsbView:
        """The snapshot the screen renders: a new one only when something it shows changed."""
        statuses = tuple(self.engine.statuses()) if self.engine is not None else ()
        old = self._view
        view = UsbView(
            old.version if old is not None else 0,
            self.generation,
            self.source,
            self.host,
            old.devices
            if old is not None and old.devices == self.devices
            else freeze(self.devices),
            self.devices_known,
            self.owners,
            statuses,
            self.engine is not None,
            self.rulebook.rules_problem(),
        )
        if old is not None and view == old:
            return old
        self._view = replace(view, version=view.version + 1)
        return self._view

    # -- rules: the rule book's owner (tui.core.usb.rulebook.RulesOwner) --------------------------
    def rules_job(
        self,
        name: str,
        fn: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], bool | None] | None = None,
    ) -> None:
        self._job(name, fn, done, failed)

    def current_rules(self) -> list[Rule] | None:
        return self.engine.rules if self.engine is not None else None

    def install_rules(self, rules: list[Rule], lock: RulesLock | None) -> None:
        self.use_rules(rules, lock)

    def change_rules(self, rules: list[Rule]) -> None:
        assert self.engine is not None
        if self.started:
            self._submit(self.engine.set_rules(rules))
        else:
            self.engine.rules = list(rules)  # the start pass evaluates them

    def release_device(self, key: str) -> None:
        if self.engine is not None:
            self.engine.release(key)

    def use_rules(self, rules: list[Rule], lock: RulesLock | None) -> None:
        """Start the engine with these rules (``rules --run`` loads and locks them itself)."""
        self.engine = RuleEngine(rules, lock=lock, clock=self.clock, readonly=self.readonly)
        self._maybe_start()
        self.on_update()

    def status_lines(self) -> list[str]:
        return [format_status(s) for s in self.engine.statuses()] if self.engine else []

    # -- the rules' requests ---------------------------------------------------------------------
    def _submit(self, requests: list[Request]) -> None:
        for req in requests:
            self._enqueue(self._request_job(req))
        if requests:
            self.on_update()

    def _request_job(self, req: Request) -> Job:
        what = describe_request(req)
        port = self.port
        present = list(self.devices.values())

        def run() -> HostdevResult | None:
            if port is None:
                raise HostdevError("not-connected", "the host is not connected")
            return executor.execute(port, req, present)

        def done(result: HostdevResult | None) -> None:
            self.on_note(UsbNote(f"{what}: {describe_result(result)}"))
            self._after(req, None)

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, HostdevError):
                self._after(req, f"{type(exc).__name__}: {exc}")
                return False  # the runner's one error handler reports it
            self.failures += 1
            self.on_note(UsbNote(f"{what}: FAILED: {exc}", ok=False))
            self._after(req, str(exc))
            return True

        return Job(f"usb rule {req.guest}", run, done, failed, urgent=True)

    def _after(self, req: Request, error: str | None) -> None:
        if self.engine is not None:
            self._submit(self.engine.on_result(req, error))
        self.refresh_owners()
        self.on_update()

    # -- manual actions ------------------------------------------------------------------------
    def live_owner(self, dev: UsbDevice) -> str | None:
        return self.owners.live_owner(dev)

    def attach(self, dev: UsbDevice, guest: str, persistent: bool = False) -> str | None:
        """Attach by hand. Returns why not, or None (done in a job, result as a note)."""
        return self._manual("attach", dev, guest, persistent)

    def move(self, dev: UsbDevice, owner: str, guest: str, persistent: bool = False) -> str | None:
        return self._manual("move", dev, guest, persistent, owner)

    def detach(self, dev: UsbDevice, guest: str) -> str | None:
        return self._manual("detach", dev, guest)

    def _manual(
        self, verb: str, dev: UsbDevice, guest: str, persistent: bool = False, owner: str = ""
    ) -> str | None:
        if self.readonly:
            return f"Read-only (--readonly): cannot {verb} USB devices."
        port = self.port
        if port is None:
            return f"Cannot {verb} {dev.label}: the host is not connected."
        engine = self.engine
        if engine is not None:
            rule = engine.rule_for(dev)
            if verb == "detach":
                engine.hold(dev.key, HOLD_DETACHED)
            elif rule is not None and rule.guest != guest:
                engine.hold(dev.key, held_elsewhere(guest))
            else:
                engine.release(dev.key)
        present = list(self.devices.values())
        what = describe_manual("detach" if verb == "detach" else "attach", dev, guest)

        def run() -> HostdevResult:
            if verb == "detach":
                return executor.detach(port, dev, guest, live=True, config=False)
            if verb == "move":
                return executor.move(
                    port, dev, owner, guest, persistent=persistent, present=present
                )
            return executor.attach(port, dev, guest, persistent=persistent, present=present)

        def done(result: HostdevResult) -> None:
            self.on_note(UsbNote(f"{what}: {describe_result(result)}"))
            if self.engine is not None:
                if verb == "detach":
                    self.engine.note_attached(dev.key, None)
                elif result.live:
                    self.engine.note_attached(dev.key, guest)
            self.refresh_owners()
            self.on_update()

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, HostdevError):
                return False
            self.on_note(UsbNote(f"{what}: FAILED: {exc}", ok=False))
            self.refresh_owners()
            return True

        self._enqueue(Job(f"usb {verb} {guest}", run, done, failed, urgent=True))
        return None


__all__ = ["UsbCoordinator", "UsbNote", "describe_manual", "describe_request", "describe_result"]
