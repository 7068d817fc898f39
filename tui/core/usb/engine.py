"""The USB auto-attach rule engine: what to attach or detach, and each rule's status.

No textual and no libvirt here. The :class:`RuleEngine` is pure: it takes USB events, guest
lifecycle events and the results of earlier requests, and returns :class:`AttachRequest` /
:class:`DetachRequest` values. :class:`tui.core.usb.coordinator.UsbCoordinator` (used by the TUI
and by ``kvmdeck rules --run``) applies them through the executor in a worker thread and feeds
the outcome back through :meth:`RuleEngine.on_result`.

Manual actions win: :meth:`RuleEngine.hold` stops automatic attaching of one device (detached by
hand, or attached by hand to another guest) until it is plugged in again; a device the engine
attached that disappears from the guest without an unplug (detached outside kvmdeck) is held
the same way by :meth:`RuleEngine.on_owners`.

Which udev action triggers a rule: ``add``. The ``add`` uevent of a ``usb_device`` already
carries BUSNUM/DEVNUM, which is all a hostdev needs; QEMU claims the device through usbfs, so
the host driver's ``bind`` is not required. ``bind`` comes once per interface and only where a
udev daemon runs (this VM has none: a bind-only design would never fire here). A ``bind`` or
``change`` for a device the engine has not seen counts as an ``add`` (a monitor that started
late); otherwise it only refreshes the device record.

Twins: a rule that is the first match of several present devices attaches none of them (its
line names their ports: "add serial or port to the rule"); one attached before stays, and the
last one left is attached. Attaches always name the device by its bus/device address.

Failures back off (5 s, 15 s, 60 s, then every 5 min) and are retried only from :meth:`tick`;
a replug or the guest's start resets the backoff, since those are new chances, not a loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tui.core.usb.requests import (
    HOLD_DETACHED,
    HOLD_OUTSIDE,
    AttachRequest,
    DetachRequest,
    Request,
    RuleStatus,
    format_status,
    held_elsewhere,
)
from tui.core.usb.rulelock import RulesLock, passive_message
from tui.core.usb.rules import Rule, RulesError, twins_message
from tui.model.usb import UsbDevice, UsbEvent


@dataclass
class _Track:
    state: str = "waiting"
    message: str = ""
    in_flight: bool = False
    failures: int = 0
    retry_at: float | None = None


class RuleEngine:
    """Decides attach/detach requests from USB events, guest events and results. Pure.

    Inputs: :meth:`start` (or :meth:`sync`) with the present devices, guest states
    ({name: running}) and live owners ({device key: guest}, from ``hostdev.usb_owners``);
    :meth:`on_usb_events`; :meth:`on_guest_event`; :meth:`on_result`; :meth:`tick` (about once a
    second: retries due and lock takeover). Each returns the requests to execute.
    """

    BACKOFF: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0)

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        lock: RulesLock | None = None,
        clock: Callable[[], float] = time.monotonic,
        readonly: bool = False,
    ) -> None:
        self.rules: list[Rule] = list(rules)
        self.lock = lock
        self.clock = clock
        self.readonly = readonly
        self.lock_error = ""  # why the lock could not even be tried (read-only dir, no HOME…)
        self.devices: dict[str, UsbDevice] = {}
        self.running: dict[str, bool] = {}
        self.attached: dict[str, str] = {}  # device key -> guest holding it live
        self.holds: dict[str, str] = {}  # device key -> why rules leave it alone (manual action)
        self._tracks: dict[tuple[Rule, str], _Track] = {}

    # -- state ------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """False while another kvmdeck holds the lock (or --readonly): no requests then."""
        return not self.readonly and (self.lock is None or self.lock.held)

    def try_lock(self) -> bool:
        """Take the lock if it is free (non-blocking). True when this engine may act. A lock
        that cannot be created is a reason to stay passive, never an exception."""
        if self.readonly:
            return False
        if self.lock is None:
            return True
        try:
            ok = self.lock.acquire()
        except RulesError as exc:
            self.lock_error = str(exc)
            return False
        self.lock_error = ""
        return ok

    def passive_reason(self) -> str:
        if self.readonly:
            return "read-only (--readonly): rules are shown, not applied"
        if self.lock is None or self.lock.held:
            return ""
        if self.lock_error:
            return f"rules not applied: {self.lock_error}"
        return passive_message(self.lock.holder_pid())

    def rule_for(self, dev: UsbDevice) -> Rule | None:
        """The first rule (file order) that matches: later ones are shadowed."""
        if dev.is_root_hub:
            return None
        return next((r for r in self.rules if r.matches(dev)), None)

    def _twins(self, rule: Rule) -> list[UsbDevice]:
        """The present devices ``rule`` takes (it is their first match): more than one, none."""
        return [d for d in self.devices.values() if self.rule_for(d) == rule]

    def _track(self, rule: Rule, dev: UsbDevice) -> _Track:
        return self._tracks.setdefault((rule, dev.key), _Track())

    # -- evaluation -------------------------------------------------------------------------
    def _evaluate(self, dev: UsbDevice, reason: str, *, force: bool = False) -> list[Request]:
        rule = self.rule_for(dev)
        if rule is None:
            return []
        track = self._track(rule, dev)
        if track.in_flight:
            return []
        owner = self.attached.get(dev.key)
        if owner == rule.guest:
            track.state, track.message = "attached", f"attached to {rule.guest}"
            track.failures, track.retry_at = 0, None
            return []
        twins = self._twins(rule)
        if len(twins) > 1:
            track.state, track.message = "ambiguous", twins_message(rule, twins, self.attached)
            return []
        if owner:
            track.state = "conflict"
            track.message = self.holds.get(dev.key) or (
                f"held by guest '{owner}': detach it there first"
            )
            return []
        if dev.key in self.holds:
            track.state, track.message = "held", self.holds[dev.key]
            return []
        running = self.running.get(rule.guest)
        if not running:
            track.state = "pending"
            track.message = (
                f"guest '{rule.guest}' is not defined yet"
                if running is None
                else f"guest '{rule.guest}' is off: attaches when it starts"
            )
            return []
        if track.retry_at is not None and not force and self.clock() < track.retry_at:
            return []
        if not self.active:
            track.state, track.message = "passive", self.passive_reason()
            return []
        track.in_flight = True
        track.state, track.message = "attaching", f"attaching to {rule.guest} ({reason})"
        return [AttachRequest(rule.guest, dev, rule.persistent, rule, reason)]

    def _reset(self, dev_key: str) -> None:
        for (_rule, key), track in self._tracks.items():
            if key == dev_key:
                track.failures, track.retry_at = 0, None

    def sync(
        self,
        devices: Iterable[UsbDevice] | None = None,
        running: Mapping[str, bool] | None = None,
        attached: Mapping[str, str] | None = None,
        reason: str = "present at start",
    ) -> list[Request]:
        """Replace what the engine knows (any argument left None is kept) and re-evaluate.

        Also tries to take the lock: without it the engine only reports (state "passive").
        """
        self.try_lock()
        if devices is not None:
            self.devices = {d.key: d for d in devices}
            self._tracks = {k: t for k, t in self._tracks.items() if k[1] in self.devices}
            self.holds = {k: why for k, why in self.holds.items() if k in self.devices}
        if running is not None:
            self.running = dict(running)
        if attached is not None:
            self.attached = dict(attached)
        out: list[Request] = []
        for dev in list(self.devices.values()):
            out += self._evaluate(dev, reason)
        return out

    start = sync

    def hold(self, dev_key: str, why: str) -> None:
        """A manual action: leave this device alone until it is plugged in again."""
        self.holds[dev_key] = why
        dev = self.devices.get(dev_key)
        rule = self.rule_for(dev) if dev is not None else None
        if dev is not None and rule is not None:
            track = self._track(rule, dev)
            track.failures, track.retry_at = 0, None
            if not track.in_flight:
                track.state = "conflict" if self.attached.get(dev_key) else "held"
                track.message = why

    def release(self, dev_key: str) -> None:
        """Rules apply to this device again (a manual attach to the rule's guest, a new rule)."""
        self.holds.pop(dev_key, None)

    def note_attached(self, dev_key: str, guest: str | None) -> None:
        """A manual attach (``guest``) or detach (None) that succeeded."""
        if guest:
            self.attached[dev_key] = guest
        else:
            self.attached.pop(dev_key, None)
        dev = self.devices.get(dev_key)
        rule = self.rule_for(dev) if dev is not None else None
        if dev is not None and rule is not None:
            track = self._track(rule, dev)
            if guest == rule.guest:
                track.state, track.message = "attached", f"attached to {rule.guest}"
            elif dev_key in self.holds:
                track.state = "conflict" if guest else "held"
                track.message = self.holds[dev_key]

    def set_rules(self, rules: Iterable[Rule]) -> list[Request]:
        self.rules = list(rules)
        self._tracks = {k: t for k, t in self._tracks.items() if k[0] in self.rules}
        return self.sync(reason="rules changed")

    def on_owners(self, attached: Mapping[str, str]) -> None:
        """A fresh live owners map. Updates status only, never asks for an attach: a device
        the engine had attached that is gone from its guest (without an unplug or a guest
        stop) was detached by someone, and that manual action wins until the next plug."""
        self.attached = dict(attached)
        for dev in self.devices.values():
            rule = self.rule_for(dev)
            if rule is None:
                continue
            track = self._track(rule, dev)
            owner = self.attached.get(dev.key)
            if owner == rule.guest and not track.in_flight:
                track.state, track.message = "attached", f"attached to {rule.guest}"
            elif track.state == "attached" and owner != rule.guest:
                why = held_elsewhere(owner) if owner else HOLD_OUTSIDE
                self.holds.setdefault(dev.key, why)
                track.state = "conflict" if owner else "held"
                track.message = self.holds[dev.key]
            elif owner and owner != rule.guest and not track.in_flight:
                track.state = "conflict"
                track.message = self.holds.get(dev.key) or (
                    f"held by guest '{owner}': detach it there first"
                )

    # -- inputs -----------------------------------------------------------------------------
    def on_usb_events(self, events: Iterable[UsbEvent]) -> list[Request]:
        out: list[Request] = []
        for ev in events:
            if ev.action == "remove":
                out += self._removed(ev)
            elif ev.action in ("add", "bind", "change") and ev.device is not None:
                out += self._added(ev.device, ev.action)
        return out

    def _added(self, dev: UsbDevice, action: str) -> list[Request]:
        old = self.devices.get(dev.key)
        if old is not None and dev.devnum == 0:
            return []  # the transient DEVNUM='000' change during an attach: keep the record
        if action != "add" and old is not None:
            self.devices[dev.key] = dev  # refresh only (names, driver)
            return []
        if old is not None and (old.busnum, old.devnum) != (dev.busnum, dev.devnum):
            self.attached.pop(dev.key, None)  # a replug whose remove we missed
            self._clear_in_flight(dev.key)
        self.devices[dev.key] = dev
        fresh = old is None or (old.busnum, old.devnum) != (dev.busnum, dev.devnum)
        if fresh:
            self._reset(dev.key)  # a (re)plug is a new chance: no backoff carried over
            self.holds.pop(dev.key, None)  # and it ends a manual hold
        return self._evaluate(dev, "plugged", force=fresh)

    def _clear_in_flight(self, dev_key: str) -> None:
        for (_rule, key), track in self._tracks.items():
            if key == dev_key:
                track.in_flight = False

    def _removed(self, ev: UsbEvent) -> list[Request]:
        dev = self.devices.pop(ev.sys_path, None) or ev.device
        if dev is None:
            return []
        owner = self.attached.pop(dev.key, None)
        rule = self.rule_for(dev)
        self._reset(dev.key)
        self.holds.pop(dev.key, None)
        self._clear_in_flight(dev.key)
        if rule is not None:
            track = self._track(rule, dev)
            track.state, track.message = "waiting", "device unplugged"
        out: list[Request] = [DetachRequest(owner, dev, rule)] if owner and self.active else []
        for twin in self._twins(rule) if rule is not None else []:
            out += self._evaluate(twin, "twin unplugged")  # maybe no longer ambiguous
        return out

    def on_guest_event(self, name: str, kind: str) -> list[Request]:
        """A libvirt lifecycle event (``LifecycleEvent.name``, ``.kind``)."""
        if kind == "started":
            self.running[name] = True
            out: list[Request] = []
            for dev in list(self.devices.values()):
                rule = self.rule_for(dev)
                if rule is not None and rule.guest == name:
                    self._reset(dev.key)
                    out += self._evaluate(dev, "guest started", force=True)
            return out
        if kind in ("stopped", "crashed"):
            self.running[name] = False
            self._guest_gone(name, "off")
        elif kind == "undefined":
            self.running.pop(name, None)
            self._guest_gone(name, "not defined")
        elif kind == "defined":
            self.running.setdefault(name, False)
        return []

    def _guest_gone(self, name: str, what: str) -> None:
        for key in [k for k, g in self.attached.items() if g == name]:
            self.attached.pop(key)
        for dev in self.devices.values():
            rule = self.rule_for(dev)
            if rule is not None and rule.guest == name:
                track = self._track(rule, dev)
                track.in_flight = False
                track.state = "pending"
                track.message = f"guest '{name}' is {what}: attaches when it starts"

    def on_result(self, request: Request, error: str | None) -> list[Request]:
        """The executor's outcome: ``error`` is None on success, else the message to show."""
        dev = request.device
        if isinstance(request, DetachRequest):
            if self.attached.get(dev.key) == request.guest:
                self.attached.pop(dev.key)
            return []
        track = self._track(request.rule, dev)
        track.in_flight = False
        current = self.devices.get(dev.key)
        if error is None:
            if current is not None and (current.busnum, current.devnum) == (dev.busnum, dev.devnum):
                self.attached[dev.key] = request.guest
                track.state, track.message = "attached", f"attached to {request.guest}"
                track.failures, track.retry_at = 0, None
            return []
        if current is None or (current.busnum, current.devnum) != (dev.busnum, dev.devnum):
            track.state, track.message = "waiting", f"device left while attaching: {error}"
            return []
        if not self.running.get(request.guest):
            track.state, track.message = "pending", error
            return []
        track.failures += 1
        delay = self.BACKOFF[min(track.failures - 1, len(self.BACKOFF) - 1)]
        track.retry_at = self.clock() + delay
        track.state = "failed"
        track.message = f"{error} (retry in {delay:.0f} s)"
        return []

    def tick(self) -> list[Request]:
        """Retries whose backoff expired; takes over when another kvmdeck released the lock."""
        if not self.active:
            if not self.try_lock():
                return []
            return self.sync(reason="took over rules")
        now = self.clock()
        out: list[Request] = []
        for (rule, key), track in list(self._tracks.items()):
            if track.state != "failed" or track.retry_at is None or now < track.retry_at:
                continue
            dev = self.devices.get(key)
            if dev is not None and self.rule_for(dev) == rule:
                out += self._evaluate(dev, "retry", force=True)
        return out

    def next_retry(self) -> float | None:
        due = [t.retry_at for t in self._tracks.values() if t.state == "failed" and t.retry_at]
        return min(due) if due else None

    # -- output for the UI ----------------------------------------------------------------------
    def statuses(self) -> list[RuleStatus]:
        out = []
        passive = "" if self.active else self.passive_reason()
        for rule in self.rules:
            devs = [d for d in self.devices.values() if rule.matches(d) and not d.is_root_hub]
            if not devs:
                out.append(RuleStatus(rule, "waiting", "device not plugged in"))
                continue
            twins = self._twins(rule)
            if len(twins) > 1:
                why = twins_message(rule, twins, self.attached)
                out.append(RuleStatus(rule, "ambiguous", why, twins[0]))
                continue
            if not twins:
                first = self.rule_for(devs[0]) or rule
                why = f"an earlier rule takes it: {first.describe()}"
                out.append(RuleStatus(rule, "shadowed", why, devs[0]))
                continue
            dev = twins[0]
            track = self._tracks.get((rule, dev.key), _Track())
            if passive and track.state != "attached":
                out.append(RuleStatus(rule, "passive", passive, dev))
                continue
            out.append(
                RuleStatus(rule, track.state, track.message, dev, track.retry_at, track.failures)
            )
        return out


__all__ = [
    "HOLD_DETACHED",
    "HOLD_OUTSIDE",
    "AttachRequest",
    "DetachRequest",
    "Request",
    "RuleEngine",
    "RuleStatus",
    "format_status",
    "held_elsewhere",
]
