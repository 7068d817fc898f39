"""The USB model shared by the feeds (pyudev, libvirt node devices), rules, the coordinator and
the UI: devices, events, who holds which device, and the results of hostdev actions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tui.model.domain import UsbHostdev


@dataclass(frozen=True)
class UsbDevice:
    """One USB device as the host sees it.

    ``busnum``/``devnum`` are integers (udev pads them with zeros: "010" is ten, never octal).
    ``port`` is the bus-port path (sysfs name such as "1-1.2"), stable across replugs in the
    same socket, unlike ``devnum``.
    """

    sys_path: str
    port: str  # "1-1.2"
    busnum: int
    devnum: int
    vendor_id: int  # 0x046d
    product_id: int
    vendor_name: str = ""
    product_name: str = ""
    serial: str = ""
    speed: str = ""  # Mbit/s as sysfs reports it ("480")
    driver: str = ""
    names_from: str = "sysfs"  # "hwdb" when udev's database supplied the names
    source: str = "udev"  # "udev" (local pyudev) or "libvirt" (node devices of a remote host)

    @property
    def key(self) -> str:
        """Stable row key for the UI: the sysfs path (or node-device name for libvirt)."""
        return self.sys_path

    @property
    def ids(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"

    @property
    def address(self) -> str:
        return f"{self.busnum:03d}:{self.devnum:03d}"

    @property
    def is_root_hub(self) -> bool:
        return self.vendor_id == 0x1D6B

    @property
    def label(self) -> str:
        name = " ".join(p for p in (self.vendor_name, self.product_name) if p)
        return name or self.ids


@dataclass(frozen=True)
class UsbEvent:
    """A plug/unplug/bind/unbind seen by a monitor."""

    action: str  # add | remove | bind | unbind | change
    device: UsbDevice | None  # None when only the path is known (remove of an unknown device)
    sys_path: str
    wall: float  # time.time()
    extra: dict[str, str] = field(default_factory=dict)


# -- who holds which device (from the guests' live and saved XML) ------------------------------
def has_address(entry: UsbHostdev) -> bool:
    return bool(entry.bus) and bool(entry.device)


def entry_matches_device(entry: UsbHostdev, dev: UsbDevice) -> bool:
    """Does a domain's hostdev entry name this physical device?

    An entry with an address matches by bus/device (and by ids when it has them, so a recycled
    devnum of another device does not count); an entry without one matches by vendor:product.
    """
    if has_address(entry):
        if (entry.bus, entry.device) != (dev.busnum, dev.devnum):
            return False
        return entry.vendor in (None, dev.vendor_id) and entry.product in (None, dev.product_id)
    return (entry.vendor, entry.product) == (dev.vendor_id, dev.product_id)


def libvirt_would_match(new: UsbHostdev, existing: UsbHostdev) -> bool:
    """libvirt's own duplicate test: a new def with an address matches by bus/device only, one
    without by vendor:product only (measured: 'device is already in the domain configuration')."""
    if has_address(new):
        return (new.bus, new.device) == (existing.bus, existing.device)
    return (new.vendor, new.product) == (existing.vendor, existing.product)


def has_twin(dev: UsbDevice, present: Iterable[UsbDevice]) -> bool:
    """Is another device with the same vendor:product plugged in?"""
    return any(
        (o.vendor_id, o.product_id) == (dev.vendor_id, dev.product_id) and o.key != dev.key
        for o in present
    )


def as_entry(dev: UsbDevice, with_address: bool) -> UsbHostdev:
    """The hostdev entry that would name ``dev`` (with its current address, or by ids only)."""
    return UsbHostdev(
        vendor=dev.vendor_id,
        product=dev.product_id,
        bus=dev.busnum if with_address else None,
        device=dev.devnum if with_address else None,
    )


@dataclass(frozen=True)
class UsbOwner:
    guest: str
    uuid: str
    hostdev: UsbHostdev
    live: bool  # in the running guest's live XML
    config: bool  # in the saved (inactive) config


@dataclass
class UsbOwners:
    """Who holds which USB device, from every guest's live and saved XML.

    ``by_address``/``by_ids`` are the shapes the USB table takes (``set_owners``): entries with
    an address are keyed by (bus, device), the others by (vendor, product). A live holder wins
    over a config-only one.
    """

    entries: list[UsbOwner] = field(default_factory=list)
    by_address: dict[tuple[int, int], str] = field(default_factory=dict)
    by_ids: dict[tuple[int, int], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def owners_of(self, dev: UsbDevice) -> list[UsbOwner]:
        return [o for o in self.entries if entry_matches_device(o.hostdev, dev)]

    def live_owner(self, dev: UsbDevice) -> str | None:
        for o in self.owners_of(dev):
            if o.live:
                return o.guest
        return None

    def live_map(self, devices: Iterable[UsbDevice]) -> dict[str, str]:
        """{device key: guest} for devices a running guest holds (the rule engine's input)."""
        out = {}
        for d in devices:
            guest = self.live_owner(d)
            if guest:
                out[d.key] = guest
        return out

    def index(self) -> None:
        """Fill ``by_address``/``by_ids`` from ``entries`` (live holders first)."""
        self.by_address.clear()
        self.by_ids.clear()
        for o in sorted(self.entries, key=lambda o: not o.live):
            h = o.hostdev
            if has_address(h):
                self.by_address.setdefault((h.bus or 0, h.device or 0), o.guest)
            else:
                self.by_ids.setdefault((h.vendor or 0, h.product or 0), o.guest)


@dataclass(frozen=True)
class GuestUsb:
    """One guest's USB hostdevs as the executor needs them (read in one go by the adapter)."""

    name: str
    active: bool
    persistent: bool
    live: tuple[UsbHostdev, ...] = ()
    saved: tuple[UsbHostdev, ...] = ()


# -- results and errors of hostdev actions -------------------------------------------------------
class HostdevError(Exception):
    """An attach/detach that failed. ``kind`` is one of: guest-gone, guest-stopped, device-gone,
    not-attached, in-use, permission, refused, transient, invalid, failed, not-connected.
    ``libvirt_message`` is libvirt's own text (empty when the check was ours)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        guest: str = "",
        device: UsbDevice | None = None,
        libvirt_message: str = "",
        code: int = 0,
    ) -> None:
        self.kind = kind
        self.guest = guest
        self.device = device
        self.libvirt_message = libvirt_message
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class HostdevResult:
    action: str  # "attach" | "detach"
    guest: str
    device: UsbDevice
    live: bool  # AFFECT_LIVE was applied
    config: bool  # AFFECT_CONFIG was applied
    calls: tuple[tuple[str, int], ...] = ()  # (xml, flags) as sent, in order
    note: str = ""  # why a requested part was skipped ("already in the saved config", …)
    config_error: str = ""  # LIVE worked but the CONFIG part failed

    @property
    def changed(self) -> bool:
        return self.live or self.config


def describe_device(dev: UsbDevice | None) -> str:
    if dev is None:
        return "the USB device"
    return f"{dev.label} ({dev.ids} at bus {dev.busnum} device {dev.devnum})"
