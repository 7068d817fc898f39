"""USB devices of a (remote) host as libvirt node devices, and their lifecycle events.

Used when the host is not this machine, so pyudev cannot see it. Devices come back as the same
:class:`UsbDevice` with ``source="libvirt"``; ``sys_path`` holds the node-device name
("usb_1_4"), which is also what lifecycle events carry, so it is the row key.
All calls may block on a remote connection: call them from a thread worker, except
:class:`NodeDeviceWatch` whose callback runs on libvirt's event loop (libvirtaio: the app loop).
:class:`RemoteUsbFeed` is the :class:`tui.core.usb.ports.DeviceFeed` built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import libvirt

from tui.model.usb import UsbDevice, UsbEvent

EventsCallback = Callable[[list[UsbEvent]], None]


def _int(text: str | None, base: int) -> int:
    if not text:
        return 0
    try:
        return int(text.strip(), base)
    except ValueError:
        return 0


def usb_device_from_xml(xml: str) -> UsbDevice | None:
    """Parse a node device's ``XMLDesc``; None unless it has a ``usb_device`` capability."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    cap = root.find("capability[@type='usb_device']")
    if cap is None:
        return None
    name = (root.findtext("name") or "").strip()
    path = (root.findtext("path") or "").strip()
    vendor = cap.find("vendor")
    product = cap.find("product")
    driver = (root.findtext("driver/name") or "").strip()
    vendor_name = (vendor.text or "").strip() if vendor is not None else ""
    product_name = (product.text or "").strip() if product is not None else ""
    return UsbDevice(
        sys_path=name,
        port=PurePosixPath(path).name if path else name,
        busnum=_int(cap.findtext("bus"), 10),  # decimal, as libvirt writes it
        devnum=_int(cap.findtext("device"), 10),
        vendor_id=_int(vendor.get("id") if vendor is not None else None, 16),
        product_id=_int(product.get("id") if product is not None else None, 16),
        vendor_name=vendor_name,
        product_name=product_name,
        driver=driver,
        names_from="libvirt" if (vendor_name or product_name) else "none",
        source="libvirt",
    )


def libvirt_usb_devices(conn: libvirt.virConnect) -> list[UsbDevice]:
    """The USB devices libvirt reports for the host behind ``conn``, sorted by name."""
    found = []
    for nodedev in conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV):
        try:
            device = usb_device_from_xml(nodedev.XMLDesc(0))
        except libvirt.libvirtError:
            continue  # unplugged between list and XMLDesc
        if device is not None:
            found.append(device)
    return sorted(found, key=lambda d: d.sys_path)


class NodeDeviceWatch:
    """Node-device lifecycle events of one connection as :class:`UsbEvent` batches.

    Needs libvirt's event loop registered first (``register_event_loop()``). ``known`` is seeded
    by :meth:`start` from :func:`libvirt_usb_devices` so a ``DELETED`` event (whose device XML is
    gone) still says what left.
    """

    def __init__(self, conn: libvirt.virConnect, on_events: EventsCallback) -> None:
        self.conn = conn
        self.on_events = on_events
        self.known: dict[str, UsbDevice] = {}
        self.callback_id: int | None = None

    def start(self) -> list[UsbDevice]:
        self.known = {d.sys_path: d for d in libvirt_usb_devices(self.conn)}
        self.callback_id = self.conn.nodeDeviceEventRegisterAny(
            None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
        )
        return sorted(self.known.values(), key=lambda d: d.sys_path)

    def stop(self) -> None:
        if self.callback_id is not None:
            with contextlib.suppress(libvirt.libvirtError):  # connection already closed
                self.conn.nodeDeviceEventDeregisterAny(self.callback_id)
            self.callback_id = None

    def _on_lifecycle(
        self,
        _conn: libvirt.virConnect,
        nodedev: libvirt.virNodeDevice,
        event: int,
        _detail: int,
        _opaque: Any,
    ) -> None:
        result = self.handle(nodedev, event)
        if result is not None:
            self.on_events([result])

    def handle(self, nodedev: libvirt.virNodeDevice, event: int) -> UsbEvent | None:
        """Turn one lifecycle event into a :class:`UsbEvent` (None for non-USB devices)."""
        name = nodedev.name()
        if event == libvirt.VIR_NODE_DEVICE_EVENT_DELETED:
            gone = self.known.pop(name, None)
            if gone is None:
                return None
            return UsbEvent("remove", gone, name, time.time())
        if event != libvirt.VIR_NODE_DEVICE_EVENT_CREATED:
            return None
        try:
            device = usb_device_from_xml(nodedev.XMLDesc(0))
        except libvirt.libvirtError:
            return None
        if device is None:
            return None
        self.known[name] = device
        return UsbEvent("add", device, name, time.time())


class RemoteUsbFeed:
    """:class:`tui.core.usb.ports.DeviceFeed` of a host seen through libvirt.

    :meth:`start` blocks (it lists the node devices and registers for their events): run it in
    a worker thread. The callback then runs on libvirt's event loop (the app's loop, through
    libvirtaio). :meth:`stop` never blocks: it silences the feed at once and unregisters in a
    daemon thread, so a host that stopped answering cannot hold up the caller (or quit).
    """

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn
        self._watch: NodeDeviceWatch | None = None
        self._stopped = False

    def start(self, loop: asyncio.AbstractEventLoop, on_events: EventsCallback) -> list[UsbDevice]:
        def deliver(events: list[UsbEvent]) -> None:
            if not self._stopped:
                on_events(events)

        watch = NodeDeviceWatch(self.conn, deliver)
        self._watch = watch
        devices = watch.start()
        if self._stopped:  # stopped while starting: undo the registration here (a thread)
            watch.stop()
        return devices

    def stop(self) -> None:
        self._stopped = True
        watch, self._watch = self._watch, None
        if watch is not None and watch.callback_id is not None:
            threading.Thread(target=watch.stop, name="usb-feed-stop", daemon=True).start()

    def devices(self) -> list[UsbDevice]:
        watch = self._watch
        if watch is None:
            return []
        return sorted(watch.known.values(), key=lambda d: d.sys_path)
