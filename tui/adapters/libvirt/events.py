"""Turning libvirt's event callbacks into the model's event values."""

from __future__ import annotations

import time

import libvirt

from tui.model.events import EVENT_NAMES, DeviceEvent, LifecycleEvent

__all__ = ["EVENT_NAMES", "DeviceEvent", "LifecycleEvent", "make_device", "make_lifecycle"]


def make_lifecycle(
    uri: str | None, dom: libvirt.virDomain, event: int, detail: int
) -> LifecycleEvent:
    return LifecycleEvent(uri, dom.name(), dom.UUIDString(), event, detail, time.time())


def make_device(uri: str | None, dom: libvirt.virDomain, alias: str, added: bool) -> DeviceEvent:
    return DeviceEvent(uri, dom.name(), dom.UUIDString(), alias, added, time.time())
