"""Shared test helpers: USB devices as the monitor builds them, a recording fake libvirt, and
the executor called the way the old ``hostdev.attach(conn_or_domain, …)`` was."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import libvirt

from tui.adapters.libvirt.hostdev import LibvirtHostdev
from tui.core.usb import executor
from tui.model.usb import HostdevResult, UsbDevice, UsbEvent


def usb(
    busnum: str = "001",
    devnum: str = "010",
    vendor: int = 0x0403,
    product: int = 0x6001,
    port: str = "1-1.2",
    serial: str = "A5XK3RJT",
) -> UsbDevice:
    """A device with udev's zero-padded BUSNUM/DEVNUM, decoded the monitor's way (decimal)."""
    return UsbDevice(
        sys_path=f"/sys/devices/pci0000:00/0000:00:14.0/usb1/{port}",
        port=port,
        busnum=int(busnum, 10),
        devnum=int(devnum, 10),
        vendor_id=vendor,
        product_id=product,
        vendor_name="FTDI",
        product_name="FT232R USB UART",
        serial=serial,
    )


def event(action: str, dev: UsbDevice) -> UsbEvent:
    return UsbEvent(action, dev, dev.sys_path, time.time())


class FakeLibvirtError(libvirt.libvirtError):
    """A libvirtError with a chosen code and message (as libvirtd would raise it)."""

    def __init__(self, message: str, code: int = libvirt.VIR_ERR_INTERNAL_ERROR) -> None:
        libvirt.virResetLastError()  # else the base class copies this thread's last real error
        super().__init__(message)
        self._code = code
        self._message = message

    def get_error_code(self) -> int:
        return self._code

    def get_error_message(self) -> str:
        return self._message


DOMAIN_XML = """<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid>
<memory unit='KiB'>65536</memory><os><type arch='x86_64'>hvm</type></os>
<devices>{hostdevs}</devices></domain>"""


@dataclass
class RecordingDomain:
    """A virDomain stand-in that records every attach/detach call (xml, flags) and applies it.

    Why a fake: a LIVE USB attach cannot succeed on this VM (no /sys/bus/usb: libvirtd refuses
    it, see tests/hostdev/test_errors_libvirtd.py) and the test driver has no attachDeviceFlags,
    so the success paths are shown against this stand-in. It keeps the hostdev elements of the
    live and the saved definition (``live_hostdevs``/``config_hostdevs``): a successful attach
    adds its XML, a detach removes it, as libvirt would. ``fail`` maps a flags value to the error
    that call raises.
    """

    guest: str
    active: bool
    persistent: bool
    live_hostdevs: list[str] = field(default_factory=list)
    config_hostdevs: list[str] = field(default_factory=list)
    fail: dict[int, Exception] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    uuid: str = "6f1c2d7e-0000-4000-8000-000000000001"

    def name(self) -> str:
        return self.guest

    def UUIDString(self) -> str:
        return self.uuid

    def isActive(self) -> int:
        return int(self.active)

    def isPersistent(self) -> int:
        return int(self.persistent)

    def XMLDesc(self, flags: int = 0) -> str:
        inactive = bool(flags & libvirt.VIR_DOMAIN_XML_INACTIVE) or not self.active
        devs = self.config_hostdevs if inactive else self.live_hostdevs
        return DOMAIN_XML.format(name=self.guest, uuid=self.uuid, hostdevs="".join(devs))

    def _lists(self, flags: int) -> list[list[str]]:
        out = []
        if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            out.append(self.live_hostdevs)
        if flags & libvirt.VIR_DOMAIN_AFFECT_CONFIG:
            out.append(self.config_hostdevs)
        return out

    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        self.calls.append(("attach", xml, flags))
        if flags in self.fail:
            raise self.fail[flags]
        for held in self._lists(flags):
            held.append(xml)
        return 0

    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int:
        self.calls.append(("detach", xml, flags))
        if flags in self.fail:
            raise self.fail[flags]
        for held in self._lists(flags):
            if xml in held:
                held.remove(xml)
        return 0


@dataclass
class RecordingConn:
    domains: list[RecordingDomain]

    def listAllDomains(self, flags: int = 0) -> list[RecordingDomain]:
        return list(self.domains)

    def lookupByName(self, name: str) -> RecordingDomain:
        for d in self.domains:
            if d.guest == name:
                return d
        raise FakeLibvirtError(
            f"Domain not found: no domain with matching name '{name}'", libvirt.VIR_ERR_NO_DOMAIN
        )


class _DomainConn:
    """A connection that knows one domain (to call the port with a bare virDomain)."""

    def __init__(self, dom: Any) -> None:
        self.dom = dom

    def lookupByName(self, name: str) -> Any:
        return self.dom

    def listAllDomains(self, flags: int = 0) -> list[Any]:
        return [self.dom]


def port_of(target: Any, guest: str | None) -> tuple[LibvirtHostdev, str]:
    """(port, guest name) for a connection plus a guest, or a bare (fake or real) domain."""
    if hasattr(target, "attachDeviceFlags"):
        return LibvirtHostdev(_DomainConn(target)), guest or target.name()
    assert guest, "a connection needs a guest name"
    return LibvirtHostdev(target), guest


def attach(
    target: Any,
    dev: UsbDevice,
    *,
    live: bool = True,
    config: bool = False,
    guest: str | None = None,
    present: Sequence[UsbDevice] = (),
) -> HostdevResult:
    port, name = port_of(target, guest)
    return executor.attach(port, dev, name, live=live, persistent=config, present=present)


def detach(
    target: Any,
    dev: UsbDevice,
    *,
    live: bool = True,
    config: bool = False,
    guest: str | None = None,
) -> HostdevResult:
    port, name = port_of(target, guest)
    return executor.detach(port, dev, name, live=live, config=config)
