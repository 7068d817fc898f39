"""libvirt lifecycle and device events as plain values (libvirt's event numbers are stable)."""

from __future__ import annotations

from dataclasses import dataclass

# virDomainEventType
EVENT_NAMES = {
    0: "defined",
    1: "undefined",
    2: "started",
    3: "suspended",
    4: "resumed",
    5: "stopped",
    6: "shutdown",
    7: "pmsuspended",
    8: "crashed",
}


# (event, detail) -> what happened, in the operator's words (virDomainEvent*DetailType). An event
# not listed here is shown by its name and detail number.
EVENT_TEXT = {
    (0, 0): "defined",
    (0, 1): "saved config updated",
    (0, 2): "defined (renamed)",
    (0, 3): "defined from a snapshot",
    (1, 0): "undefined",
    (1, 1): "undefined (renamed)",
    (2, 0): "started",
    (2, 1): "started (migrated in)",
    (2, 2): "started (restored)",
    (2, 3): "started from a snapshot",
    (2, 4): "started (woken up)",
    (3, 0): "paused",
    (3, 1): "paused (migrating)",
    (3, 2): "paused: disk I/O error",
    (3, 3): "paused by its watchdog",
    (3, 4): "paused (restored)",
    (3, 5): "paused (from a snapshot)",
    (3, 6): "paused: libvirt API error",
    (3, 7): "paused (post-copy migration)",
    (3, 8): "paused (post-copy migration failed)",
    (4, 0): "resumed",
    (4, 1): "resumed (migrated)",
    (4, 2): "resumed (from a snapshot)",
    (4, 3): "resumed (post-copy migration)",
    (4, 4): "resumed (post-copy migration failed)",
    (5, 0): "shut off (its OS shut down)",
    (5, 1): "shut off (forced off)",
    (5, 2): "shut off (crashed)",
    (5, 3): "shut off (migrated away)",
    (5, 4): "shut off (saved)",
    (5, 5): "shut off (QEMU failed)",
    (5, 6): "shut off (from a snapshot)",
    (6, 0): "shutdown finished",
    (6, 1): "shutting down (its OS started it)",
    (6, 2): "shutting down (the host started it)",
    (7, 0): "suspended to memory",
    (7, 1): "suspended to disk",
    (8, 0): "crashed (guest panic)",
    (8, 1): "crashed (crash kernel loaded)",
}


@dataclass(frozen=True)
class LifecycleEvent:
    uri: str | None
    name: str
    uuid: str
    event: int
    detail: int
    wall: float  # time.time() when it arrived

    @property
    def kind(self) -> str:
        return EVENT_NAMES.get(self.event, f"event {self.event}")

    @property
    def text(self) -> str:
        """What happened, for the event log ("shut off (forced off)")."""
        return EVENT_TEXT.get((self.event, self.detail)) or f"{self.kind} (detail {self.detail})"


@dataclass(frozen=True)
class DeviceEvent:
    """A device was added to or removed from a guest (hostdev attach/detach)."""

    uri: str | None
    name: str
    uuid: str
    alias: str
    added: bool
    wall: float
