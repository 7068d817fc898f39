"""What the rule engine asks for (attach, detach), what it reports (one status per rule), and
the one wording of each (the USB screen, the event log and ``kvmdeck rules --run`` share it).

Pure values, shared by the engine, the executor, the coordinator and the UI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tui.core.usb.rules import Rule
from tui.model.usb import HostdevResult, UsbDevice


@dataclass(frozen=True)
class AttachRequest:
    """Attach ``device`` (its CURRENT bus/device) to the running ``guest``.

    Executor: ``executor.execute(port, request, present)`` (LIVE, plus CONFIG when persistent).
    """

    guest: str
    device: UsbDevice
    persistent: bool
    rule: Rule
    reason: str  # "plugged" | "present at start" | "guest started" | "retry" | "rules changed"
    # | "twin unplugged"


@dataclass(frozen=True)
class DetachRequest:
    """Remove the stale live hostdev of an unplugged ``device`` from ``guest`` (LIVE only)."""

    guest: str
    device: UsbDevice
    rule: Rule | None
    reason: str = "unplugged"


HOLD_DETACHED = "detached by hand: attaches again when plugged in again"
HOLD_OUTSIDE = "detached outside kvmdeck: attaches again when plugged in again"


def held_elsewhere(guest: str) -> str:
    return f"attached by hand to '{guest}': the rule does not take it back (replug to reapply)"


Request = AttachRequest | DetachRequest


@dataclass(frozen=True)
class RuleStatus:
    """One rule's state for the UI and ``kvmdeck rules --list``.

    ``state``: waiting (no matching device) | pending (guest not running) | attaching |
    attached | failed (backing off) | conflict (device held by another guest) |
    held (a manual action wins until the device is plugged in again) |
    shadowed (an earlier rule takes the device) | ambiguous (the rule is the first match of
    several present devices: it attaches none of them) | passive (another kvmdeck applies rules,
    the lock cannot be taken, or --readonly).
    """

    rule: Rule
    state: str
    message: str
    device: UsbDevice | None = None
    retry_at: float | None = None
    failures: int = 0


def format_status(status: RuleStatus) -> str:
    """The one rule-status line (the USB screen, ``kvmdeck rules --run --once``)."""
    text = f"rule {status.rule.describe()}: {status.state}"
    return f"{text} — {status.message}" if status.message else text


@dataclass(frozen=True)
class UsbNote:
    """Something to tell the user: a result line (the event log) and a notification."""

    text: str
    ok: bool = True
    wall: float = field(default_factory=time.time)


def describe_request(req: Request) -> str:
    d = req.device
    verb, arrow = ("attach", "→") if isinstance(req, AttachRequest) else ("detach", "←")
    return (
        f"{verb} {d.ids} {d.label!r} (bus {d.busnum} device {d.devnum}) {arrow} {req.guest} "
        f"[{req.reason}]"
    )


def describe_manual(verb: str, dev: UsbDevice, guest: str) -> str:
    arrow = "←" if verb == "detach" else "→"
    return (
        f"{verb} {dev.ids} {dev.label!r} (bus {dev.busnum} device {dev.devnum}) {arrow} {guest} "
        "[by hand]"
    )


def describe_result(result: HostdevResult | None) -> str:
    if result is None:
        return "ok (already gone)"
    parts = [p for p, on in (("live", result.live), ("config", result.config)) if on]
    text = f"ok ({'+'.join(parts) or 'nothing to do'})"
    if result.note:
        text += f"; {result.note}"
    if result.config_error:
        text += f"; config not saved: {result.config_error}"
    return text


__all__ = [
    "HOLD_DETACHED",
    "HOLD_OUTSIDE",
    "AttachRequest",
    "DetachRequest",
    "Request",
    "RuleStatus",
    "UsbNote",
    "describe_manual",
    "describe_request",
    "describe_result",
    "format_status",
    "held_elsewhere",
]
