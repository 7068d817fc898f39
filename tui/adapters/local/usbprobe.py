"""The USB doctor's probes of this machine: the device node, the QEMU user, the kernel log.

Everything here blocks (file reads): the app calls :func:`probe_device` (:func:`probe_host`
without a device) through ``UsbHostPort.probe`` (tui/core/ports.py) in a worker thread.
``root`` stands for ``/`` so tests can point the probes at a directory of their own. The QEMU
user and the kernel log come from their one reader each (:mod:`.qemuuser`, :mod:`.kernellog`,
which the virtualization doctor reads too). Nothing is judged here: the findings are
:func:`tui.core.usb.doctor.usb_findings`'s business.
"""

from __future__ import annotations

import re
from pathlib import Path

from tui.adapters.local.kernellog import read_kernel_log
from tui.adapters.local.qemuuser import qemu_user
from tui.adapters.local.rootfs import group_name, read_word, user_name
from tui.model.usb import UsbDevice
from tui.model.usb_doctor import LOCAL, DeviceNode, HostProbe, SecurityLog

__all__ = [
    "device_node",
    "mac_status",
    "probe_device",
    "probe_host",
    "security_log",
]

DENIAL = re.compile(r'apparmor="DENIED"|avc:\s+denied')
MAX_DENIALS = 200


def device_node(busnum: int, devnum: int, root: Path = Path("/")) -> DeviceNode:
    """Owner and mode of ``/dev/bus/usb/BBB/DDD`` (names from ``root``'s passwd and group)."""
    return _node(f"/dev/bus/usb/{busnum:03d}/{devnum:03d}", root)


def _node(shown: str, root: Path) -> DeviceNode:
    try:
        st = (Path(root) / shown.lstrip("/")).stat()
    except FileNotFoundError:
        return DeviceNode(shown, False)
    except OSError as exc:
        return DeviceNode(shown, True, error=exc.strerror or str(exc))
    owner, group = user_name(root, st.st_uid), group_name(root, st.st_gid)
    owner = "" if owner == str(st.st_uid) else owner  # not in passwd: shown by number
    group = "" if group == str(st.st_gid) else group
    return DeviceNode(shown, True, st.st_uid, st.st_gid, st.st_mode & 0o7777, owner, group)


def mac_status(root: Path = Path("/")) -> tuple[str, ...]:
    """The active Linux security modules libvirt confines QEMU with."""
    found = []
    if read_word(root, "sys/module/apparmor/parameters/enabled") == "Y":
        found.append("AppArmor")
    enforce = read_word(root, "sys/fs/selinux/enforce")
    if enforce is not None:
        found.append("SELinux (enforcing)" if enforce == "1" else "SELinux (permissive)")
    return tuple(found)


def security_log(root: Path = Path("/")) -> SecurityLog:
    """AppArmor/SELinux denial lines of the kernel log (the one reader). Unreadable
    (``kernel.dmesg_restrict``, no kern.log) says so: never "no denials" when nothing was read."""
    mac = mac_status(root)
    log = read_kernel_log(Path(root))
    if not log.readable:
        return SecurityLog(False, log.error, mac=mac)
    denials = [line for line in log.lines if DENIAL.search(line)]
    return SecurityLog(True, denials=tuple(denials[-MAX_DENIALS:]), mac=mac)


def probe_device(dev: UsbDevice, *, root: Path = Path("/"), session: bool = False) -> HostProbe:
    """Every local probe for ``dev`` (blocks: files and the kernel log)."""
    return HostProbe(
        LOCAL,
        node=device_node(dev.busnum, dev.devnum, root),
        qemu=qemu_user(root, session=session),
        kernel=security_log(root),
    )


def probe_host(*, root: Path = Path("/"), session: bool = False) -> HostProbe:
    """The local probes without a device (the USB doctor's host report): ``/dev/bus/usb``
    itself, the QEMU user, the kernel log (blocks: files and the kernel log)."""
    return HostProbe(
        LOCAL,
        node=_node("/dev/bus/usb", root),
        qemu=qemu_user(root, session=session),
        kernel=security_log(root),
    )
