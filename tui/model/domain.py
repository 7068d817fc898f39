"""Static facts about a guest (from its domain XML), as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Disk:
    target: str
    source: str
    bus: str
    device: str


@dataclass(frozen=True)
class Nic:
    type: str
    mac: str
    target: str
    model: str
    source: str


@dataclass(frozen=True)
class Graphics:
    type: str  # spice | vnc | …
    listen: str | None
    port: int | None
    tls_port: int | None
    socket: str | None
    password: str | None = field(default=None, repr=False)  # only with XML_SECURE
    autoport: bool = False


@dataclass(frozen=True)
class UsbHostdev:
    vendor: int | None
    product: int | None
    bus: int | None
    device: int | None
    startup_policy: str | None = None


@dataclass(frozen=True)
class DomainInfo:
    name: str
    uuid: str
    vcpus: int
    max_mem_kib: int
    cur_mem_kib: int
    disks: tuple[Disk, ...] = ()
    nics: tuple[Nic, ...] = ()
    graphics: tuple[Graphics, ...] = ()
    usb_hostdevs: tuple[UsbHostdev, ...] = ()
    emulator_type: str = ""
    machine: str = ""
    arch: str = ""
    display: DisplayInfo | None = None  # SPICE facts for the display doctor


@dataclass(frozen=True)
class DisplayInfo:
    """What a guest's SPICE setup can deliver, from its domain XML (never a password's value).

    ``password_set`` is None when the XML was read without ``VIR_DOMAIN_XML_SECURE``: libvirt
    then leaves the password out, so whether one is set cannot be told.
    """

    video: tuple[str, ...] = ()  # <video><model type=…>: "qxl", "virtio", "vga", "none"
    agent_channel: bool = False  # <channel type='spicevmc'> named com.redhat.spice.0
    usbredir: int = 0  # <redirdev bus='usb' type='spicevmc'>
    sound: tuple[str, ...] = ()  # <sound model=…>
    usb_controllers: tuple[str, ...] = ()  # <controller type='usb' model=…> ("" = default)
    password_set: bool | None = None
    listen_none: tuple[str, ...] = ()  # graphics types with <listen type='none'/>
