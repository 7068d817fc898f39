"""The USB doctor's facts: what the probes found about one device's host, as plain values.

The probes (:mod:`tui.adapters.local.usbprobe`, through ``UsbHostPort.probe`` (tui/core/ports.py)) fill
:class:`HostProbe` in a worker thread; :func:`tui.core.usb.doctor.usb_findings` turns it, with
the guests' USB controllers and the owners view, into :class:`tui.model.display.Finding` lines
(the display doctor's shape: name, status, detail, fix).
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.model.hostfacts import QemuUser

# Where the device is, as far as probing goes: only "local" devices have files to read here.
LOCAL, REMOTE, DEMO = "local", "remote", "demo"


@dataclass(frozen=True)
class DeviceNode:
    """The usbfs node ``/dev/bus/usb/BBB/DDD`` QEMU opens for a hostdev."""

    path: str
    exists: bool
    uid: int = -1
    gid: int = -1
    mode: int = 0  # permission bits (st_mode & 0o7777)
    owner: str = ""  # user name ("" when not in /etc/passwd)
    group: str = ""
    error: str = ""  # why it could not be read (other than "does not exist")

    @property
    def shown(self) -> str:
        owner = self.owner or str(self.uid)
        group = self.group or str(self.gid)
        return f"{self.path} {owner}:{group} {self.mode:04o}"


@dataclass(frozen=True)
class SecurityLog:
    """AppArmor/SELinux denials in the kernel log (every one, not only this device's), from
    the one kernel-log reader (:func:`tui.adapters.local.kernellog.read_kernel_log`)."""

    readable: bool
    error: str = ""  # why not ("/dev/kmsg: Operation not permitted (kernel.dmesg_restrict = 1)")
    denials: tuple[str, ...] = ()  # lines with apparmor="DENIED" or "avc: denied"
    mac: tuple[str, ...] = ()  # active security modules: "AppArmor", "SELinux (enforcing)"


@dataclass(frozen=True)
class HostProbe:
    """What could be read about the device's host. ``where`` is :data:`LOCAL`, :data:`REMOTE`
    or :data:`DEMO`; only a local probe has ``node``, ``qemu`` and ``kernel``."""

    where: str
    node: DeviceNode | None = None
    qemu: QemuUser | None = None
    kernel: SecurityLog | None = None
    error: str = ""  # the probe as a whole failed


@dataclass(frozen=True)
class UsbHostStatus:
    """Can this host show USB devices at all? Read once by the feed's adapter
    (:func:`tui.adapters.local.udev.usb_host_status` for this machine); the USB screen and the
    USB doctor's host report judge it (:func:`tui.core.usb.doctor.host_problems`).

    ``bus``: /sys/bus/usb/devices exists (False: no USB controller, common in a VM); None when
    not known (a remote host's node devices, the demo). ``udev``: a udev daemon runs (names from
    the hwdb, bind events); None when it does not apply. ``error``: why USB cannot be read
    (a permission, no netlink socket), "" when it can."""

    where: str = LOCAL
    bus: bool | None = None
    udev: bool | None = None
    error: str = ""


@dataclass(frozen=True)
class GuestUsbFacts:
    """One guest's USB controllers (``<controller type='usb' model=…>``; "" is libvirt's
    default model). ``controllers`` is None when its XML is not read yet."""

    name: str
    running: bool
    controllers: tuple[str, ...] | None


__all__ = [
    "DEMO",
    "LOCAL",
    "REMOTE",
    "DeviceNode",
    "GuestUsbFacts",
    "HostProbe",
    "QemuUser",
    "SecurityLog",
    "UsbHostStatus",
]
