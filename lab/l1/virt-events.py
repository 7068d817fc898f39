#!/usr/bin/python3
"""Print libvirt domain device events and node-device lifecycle events with timestamps."""

import time

import libvirt

libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open("qemu:///system")


def ts() -> str:
    return f"{time.time():.3f} {time.monotonic():.3f}"


def dev_removed(c: object, dom: libvirt.virDomain, alias: str, opaque: object) -> None:
    print(ts(), "DOMAIN_DEVICE_REMOVED", dom.name(), alias, flush=True)


def dev_added(c: object, dom: libvirt.virDomain, alias: str, opaque: object) -> None:
    print(ts(), "DOMAIN_DEVICE_ADDED", dom.name(), alias, flush=True)


def dev_rm_failed(c: object, dom: libvirt.virDomain, alias: str, opaque: object) -> None:
    print(ts(), "DOMAIN_DEVICE_REMOVAL_FAILED", dom.name(), alias, flush=True)


def lifecycle(c: object, dom: libvirt.virDomain, event: int, detail: int, opaque: object) -> None:
    print(ts(), "DOMAIN_LIFECYCLE", dom.name(), event, detail, flush=True)


NODE_EV = {
    libvirt.VIR_NODE_DEVICE_EVENT_CREATED: "CREATED",
    libvirt.VIR_NODE_DEVICE_EVENT_DELETED: "DELETED",
    getattr(libvirt, "VIR_NODE_DEVICE_EVENT_DEFINED", 2): "DEFINED",
    getattr(libvirt, "VIR_NODE_DEVICE_EVENT_UNDEFINED", 3): "UNDEFINED",
}


def nodedev(c: object, dev: libvirt.virNodeDevice, event: int, detail: int, opaque: object) -> None:
    print(ts(), "NODEDEV_LIFECYCLE", dev.name(), NODE_EV.get(event, event), detail, flush=True)


def nodedev_update(c: object, dev: libvirt.virNodeDevice, opaque: object) -> None:
    print(ts(), "NODEDEV_UPDATE", dev.name(), flush=True)


conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, dev_removed, None)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, dev_added, None)
conn.domainEventRegisterAny(
    None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, dev_rm_failed, None
)
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None)
conn.nodeDeviceEventRegisterAny(None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, nodedev, None)
conn.nodeDeviceEventRegisterAny(None, libvirt.VIR_NODE_DEVICE_EVENT_ID_UPDATE, nodedev_update, None)
print("READY", flush=True)
while True:
    libvirt.virEventRunDefaultImpl()
