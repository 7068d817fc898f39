"""The live USB feed of the local host: pyudev enumeration and a netlink monitor on the loop.

No thread and no polling: :class:`UsbMonitor` puts the netlink socket on the asyncio loop with
``loop.add_reader`` and drains it on each wakeup, handing the whole batch to one callback.

Without a udev daemon (no ``/run/udev``) the hwdb names (``ID_*_FROM_DATABASE``) and udev's
``bind`` processing are missing, and libudev drops the "udev" netlink group entirely, so the
monitor then listens to the kernel group instead. :func:`udev_daemon_running` lets the UI and
``kvmdeck doctor`` say so.

:class:`UsbMonitor` is the :class:`tui.core.usb.ports.DeviceFeed` of this machine. For remote
hosts see :mod:`tui.adapters.libvirt.nodedev` (libvirt node devices).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pyudev

from tui.model.usb import UsbDevice, UsbEvent
from tui.model.usb_doctor import LOCAL, UsbHostStatus

__all__ = [
    "UsbMonitor",
    "device_from_udev",
    "enumerate_devices",
    "udev_daemon_running",
    "usb_host_status",
]

log = logging.getLogger(__name__)

USB_DEVICE = "usb_device"
MAX_PER_WAKEUP = 512  # a bigger burst is split over several loop iterations, never lost

EventsCallback = Callable[[list[UsbEvent]], None]


def udev_daemon_running(root: Path = Path("/")) -> bool:
    """True when a udev daemon runs (``/run/udev`` exists under ``root``)."""
    return (Path(root) / "run" / "udev").exists()


USB_BUS_DIR = "sys/bus/usb/devices"


def usb_host_status(root: Path = Path("/")) -> UsbHostStatus:
    """Can this machine show USB devices: a USB bus in sysfs, a udev daemon, and read access.
    Read once when the feed starts (the USB screen and the USB doctor judge it)."""
    bus: bool | None
    error = ""
    try:
        os.listdir(Path(root) / USB_BUS_DIR)
        bus = True
    except FileNotFoundError:
        bus = False
    except OSError as exc:
        bus = None
        error = f"cannot read /{USB_BUS_DIR}: {exc.strerror or exc}"
    return UsbHostStatus(LOCAL, bus, udev_daemon_running(root), error)


def _prop(dev: pyudev.Device, name: str) -> str:
    try:
        value = dev.properties.get(name)
    except (KeyError, UnicodeDecodeError):
        return ""
    return str(value).strip() if value is not None else ""


def _attr(dev: pyudev.Device, name: str) -> str:
    """A sysfs attribute as text, "" when absent (for example after the device went away)."""
    try:
        raw = dev.attributes.get(name)
    except (KeyError, OSError, ValueError):
        return ""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").strip()
    return str(raw).strip()


def _dec(text: str) -> int:
    """udev pads bus and device numbers ("010"): always decimal, never octal."""
    try:
        return int(text, 10)
    except ValueError:
        return 0


def _hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _ids(dev: pyudev.Device) -> tuple[int, int]:
    vendor = _hex(_prop(dev, "ID_VENDOR_ID")) if _prop(dev, "ID_VENDOR_ID") else None
    product = _hex(_prop(dev, "ID_MODEL_ID")) if _prop(dev, "ID_MODEL_ID") else None
    if vendor is None:
        vendor = _hex(_attr(dev, "idVendor"))
    if product is None:
        product = _hex(_attr(dev, "idProduct"))
    if vendor is None or product is None:
        # PRODUCT=46d/c52b/1200 is in every kernel uevent, also in remove events.
        parts = _prop(dev, "PRODUCT").split("/")
        if len(parts) >= 2:
            vendor = _hex(parts[0]) if vendor is None else vendor
            product = _hex(parts[1]) if product is None else product
    return vendor or 0, product or 0


def _names(dev: pyudev.Device) -> tuple[str, str, str]:
    """(vendor name, product name, names_from): "hwdb", "sysfs", "mixed" or "none"."""
    sources: set[str] = set()
    vendor = _prop(dev, "ID_VENDOR_FROM_DATABASE")
    if vendor:
        sources.add("hwdb")
    else:
        vendor = _attr(dev, "manufacturer")
        if vendor:
            sources.add("sysfs")
    product = _prop(dev, "ID_MODEL_FROM_DATABASE")
    if product:
        sources.add("hwdb")
    else:
        product = _attr(dev, "product")
        if product:
            sources.add("sysfs")
    names_from = "mixed" if len(sources) > 1 else (sources.pop() if sources else "none")
    return vendor, product, names_from


def device_from_udev(dev: pyudev.Device) -> UsbDevice | None:
    """A :class:`UsbDevice` from a pyudev device, or None when it is not a whole USB device
    (interfaces and ports are skipped)."""
    if dev.device_type != USB_DEVICE:
        return None
    vendor_id, product_id = _ids(dev)
    vendor_name, product_name, names_from = _names(dev)
    busnum = _prop(dev, "BUSNUM") or _attr(dev, "busnum")
    devnum = _prop(dev, "DEVNUM") or _attr(dev, "devnum")
    try:
        driver = dev.driver or ""
    except (KeyError, OSError):
        driver = ""
    return UsbDevice(
        sys_path=dev.sys_path,
        port=dev.sys_name,
        busnum=_dec(busnum),
        devnum=_dec(devnum),
        vendor_id=vendor_id,
        product_id=product_id,
        vendor_name=vendor_name,
        product_name=product_name,
        serial=_prop(dev, "ID_SERIAL_SHORT") or _attr(dev, "serial"),
        speed=_attr(dev, "speed"),
        driver=driver or _prop(dev, "DRIVER"),
        names_from=names_from,
        source="udev",
    )


def enumerate_devices(context: pyudev.Context | None = None) -> list[UsbDevice]:
    """Every USB device (root hubs included) present now, sorted by sysfs path."""
    ctx = context if context is not None else pyudev.Context()
    found = []
    for dev in ctx.list_devices(subsystem="usb", DEVTYPE=USB_DEVICE):
        device = device_from_udev(dev)
        if device is not None:
            found.append(device)
    return sorted(found, key=lambda d: d.sys_path)


class UsbMonitor:
    """Netlink monitor for subsystem ``usb`` driven by the asyncio loop.

    ``known`` maps sysfs path to the last :class:`UsbDevice` seen, so a ``remove`` event (whose
    sysfs directory is already gone) still says which device left. After :meth:`start`,
    ``known`` is the current device set.
    """

    note = ""  # a DeviceFeed's: netlink events, nothing missing

    def __init__(
        self,
        context: pyudev.Context | None = None,
        source: str | None = None,
        root: Path = Path("/"),
    ) -> None:
        self.context = context if context is not None else pyudev.Context()
        self.udev_running = udev_daemon_running(root)
        # libudev silences the "udev" group when no daemon runs: use the kernel's then.
        self.source = source or ("udev" if self.udev_running else "kernel")
        self.monitor = pyudev.Monitor.from_netlink(self.context, source=self.source)
        self.monitor.filter_by("usb")
        self.known: dict[str, UsbDevice] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd: int | None = None
        self._on_events: EventsCallback | None = None
        self.wakeups = 0  # number of drains that delivered a batch (for tests and the bench)

    @property
    def running(self) -> bool:
        return self._fd is not None

    def devices(self) -> list[UsbDevice]:
        return sorted(self.known.values(), key=lambda d: d.sys_path)

    def start(self, loop: asyncio.AbstractEventLoop, on_events: EventsCallback) -> list[UsbDevice]:
        """Start listening, enumerate the present devices and return them.

        The socket is started *before* enumerating, so a plug during enumeration is not lost
        (it then arrives as an ``add`` for a known device, which is harmless).
        ``on_events`` runs on ``loop``'s thread, once per wakeup, with the whole batch.
        """
        if self._fd is not None:
            raise RuntimeError("UsbMonitor already started")
        self._on_events = on_events
        self.monitor.start()
        self.known = {d.sys_path: d for d in enumerate_devices(self.context)}
        self._loop = loop
        self._fd = self.monitor.fileno()
        loop.add_reader(self._fd, self._drain)
        return self.devices()

    def stop(self) -> None:
        if self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._fd = None
        self._loop = None

    def _drain(self) -> None:
        events: list[UsbEvent] = []
        for _ in range(MAX_PER_WAKEUP):
            try:
                dev = self.monitor.poll(timeout=0)
            except OSError as exc:  # ENOBUFS after an overflow: keep going with what we have
                log.warning("usb monitor: %s", exc)
                break
            if dev is None:
                break
            event = self.convert(dev)
            if event is not None:
                events.append(event)
        if events and self._on_events is not None:
            self.wakeups += 1
            self._on_events(events)

    def convert(self, dev: pyudev.Device) -> UsbEvent | None:
        """Turn one monitor device into a :class:`UsbEvent` and update ``known``."""
        action = dev.action or "change"
        sys_path = dev.sys_path
        devtype = dev.device_type
        extra = {}
        for name in ("SEQNUM", "DRIVER"):
            if value := _prop(dev, name):
                extra[name] = value
        if action == "remove":
            if devtype not in (None, USB_DEVICE):
                return None
            gone = self.known.pop(sys_path, None)
            if gone is None:
                if devtype is None and ":" in dev.sys_name:
                    return None  # an interface ("1-1:1.0") without DEVTYPE
                gone = device_from_udev(dev) if devtype == USB_DEVICE else None
            return UsbEvent("remove", gone, sys_path, time.time(), extra)
        if devtype != USB_DEVICE:
            return None
        device = device_from_udev(dev)
        if device is None:
            return None
        if action == "move" and (old := _prop(dev, "DEVPATH_OLD")):
            self.known.pop(f"{self.context.sys_path}{old}", None)
        previous = self.known.get(sys_path)
        if previous is not None and action in ("change", "bind", "unbind", "add"):
            device = _keep_names(previous, device)
        self.known[sys_path] = device
        return UsbEvent(action, device, sys_path, time.time(), extra)


def _keep_names(previous: UsbDevice, new: UsbDevice) -> UsbDevice:
    """Events raced with unplug may lack sysfs names: keep what was known for the same device."""
    if (new.vendor_id, new.product_id) != (previous.vendor_id, previous.product_id):
        return new
    if new.vendor_name or new.product_name or not (previous.vendor_name or previous.product_name):
        return new
    return replace(
        new,
        vendor_name=previous.vendor_name,
        product_name=previous.product_name,
        names_from=previous.names_from,
        serial=new.serial or previous.serial,
        speed=new.speed or previous.speed,
    )
