"""libvirt lifecycle events as plain dataclasses (the app turns them into messages)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import libvirt

EVENT_NAMES = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: "defined",
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: "undefined",
    libvirt.VIR_DOMAIN_EVENT_STARTED: "started",
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "suspended",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "resumed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "stopped",
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
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


def make_lifecycle(
    uri: str | None, dom: libvirt.virDomain, event: int, detail: int
) -> LifecycleEvent:
    return LifecycleEvent(uri, dom.name(), dom.UUIDString(), event, detail, time.time())


def make_device(uri: str | None, dom: libvirt.virDomain, alias: str, added: bool) -> DeviceEvent:
    return DeviceEvent(uri, dom.name(), dom.UUIDString(), alias, added, time.time())
