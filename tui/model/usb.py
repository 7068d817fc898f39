"""The USB device model shared by the pyudev monitor, libvirt node devices, rules and the UI."""

from __future__ import annotations

from dataclasses import dataclass, field


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
