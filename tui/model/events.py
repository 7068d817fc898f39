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


@dataclass(frozen=True)
class DeviceEvent:
    """A device was added to or removed from a guest (hostdev attach/detach)."""

    uri: str | None
    name: str
    uuid: str
    alias: str
    added: bool
    wall: float
