"""The USB doctor's probes of this machine: the device node, the QEMU user, the kernel log.

Everything here blocks (file reads, running ``dmesg``): the app calls :func:`probe_device`
through ``UsbHostPort.probe`` (tui/core/ports.py) in a worker thread. ``root`` stands for ``/`` so tests can
point the file probes at a directory of their own. Nothing is interpreted here: the findings
are :func:`tui.core.usb.doctor.usb_findings`'s business.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tui.model.usb import UsbDevice
from tui.model.usb_doctor import LOCAL, DeviceNode, HostProbe, KernelLog, QemuUser

__all__ = [
    "device_node",
    "kernel_log",
    "mac_status",
    "probe_device",
    "probe_host",
    "qemu_conf",
    "qemu_user",
]

QEMU_CONF = Path("etc/libvirt/qemu.conf")
DEFAULT_USERS = ("libvirt-qemu", "qemu")  # Debian/Ubuntu builds, Fedora/RHEL builds
DMESG: tuple[str, ...] = ("dmesg",)
DMESG_TIMEOUT_S = 5.0
DENIAL = re.compile(r'apparmor="DENIED"|avc:\s+denied')
MAX_DENIALS = 200
_SETTING = re.compile(r"^\s*(user|group|dynamic_ownership)\s*=\s*(\"[^\"]*\"|[^#\s]+)")


def _passwd(root: Path) -> dict[str, tuple[int, int]]:
    """{user: (uid, primary gid)} from ``root``/etc/passwd."""
    out: dict[str, tuple[int, int]] = {}
    try:
        text = (root / "etc/passwd").read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            out.setdefault(parts[0], (int(parts[2]), int(parts[3])))
    return out


def _groups(root: Path) -> list[tuple[str, int, tuple[str, ...]]]:
    """(name, gid, members) from ``root``/etc/group."""
    out: list[tuple[str, int, tuple[str, ...]]] = []
    try:
        text = (root / "etc/group").read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit():
            members = tuple(m for m in parts[3].split(",") if m)
            out.append((parts[0], int(parts[2]), members))
    return out


def qemu_conf(root: Path = Path("/")) -> dict[str, str]:
    """``user``, ``group`` and ``dynamic_ownership`` as qemu.conf sets them (unquoted).
    Raises OSError when the file cannot be read."""
    found: dict[str, str] = {}
    for line in (root / QEMU_CONF).read_text(errors="replace").splitlines():
        m = _SETTING.match(line)
        if m:
            found[m.group(1)] = m.group(2).strip('"')
    return found


def _uid_of(spec: str, users: dict[str, tuple[int, int]]) -> tuple[int | None, int | None]:
    """(uid, primary gid) of a qemu.conf user: a name, or "+N" for uid N."""
    if spec.startswith("+") and spec[1:].isdigit():
        uid = int(spec[1:])
        gid = next((g for u, g in users.values() if u == uid), None)
        return uid, gid
    if spec in users:
        return users[spec]
    return None, None


def qemu_user(root: Path = Path("/"), *, session: bool = False) -> QemuUser:
    """Who QEMU runs as. ``session`` (qemu:///session): the user running kvmdeck."""
    if session:
        return QemuUser(
            getpass.getuser(), "", "qemu:///session", os.getuid(), tuple(os.getgroups()), False
        )
    users = _passwd(root)
    error = ""
    try:
        conf = qemu_conf(root)
    except OSError as exc:
        conf, error = {}, f"cannot read /{QEMU_CONF}: {exc.strerror or exc}"
    source = f"/{QEMU_CONF}"
    user = conf.get("user", "")
    if not user:
        source = "libvirt's default"
        user = next((u for u in DEFAULT_USERS if u in users), DEFAULT_USERS[0])
    uid, primary = _uid_of(user, users)
    groups = _groups(root)
    group = conf.get("group", "")
    gids: list[int] = []
    if group:
        if group.startswith("+") and group[1:].isdigit():
            gids.append(int(group[1:]))
        else:
            gids += [gid for name, gid, _m in groups if name == group]
    elif primary is not None:
        gids.append(primary)
    name = next((n for n, (u, _g) in users.items() if u == uid), user)
    gids += [gid for _n, gid, members in groups if name in members]
    dynamic = conf.get("dynamic_ownership", "1").strip() != "0"
    return QemuUser(user, group, source, uid, tuple(dict.fromkeys(gids)), dynamic, error)


def device_node(busnum: int, devnum: int, root: Path = Path("/")) -> DeviceNode:
    """Owner and mode of ``/dev/bus/usb/BBB/DDD`` (names from ``root``'s passwd and group)."""
    return _node(f"/dev/bus/usb/{busnum:03d}/{devnum:03d}", root)


def _node(shown: str, root: Path) -> DeviceNode:
    try:
        st = (root / shown.lstrip("/")).stat()
    except FileNotFoundError:
        return DeviceNode(shown, False)
    except OSError as exc:
        return DeviceNode(shown, True, error=exc.strerror or str(exc))
    owner = next((n for n, (u, _g) in _passwd(root).items() if u == st.st_uid), "")
    group = next((n for n, gid, _m in _groups(root) if gid == st.st_gid), "")
    return DeviceNode(shown, True, st.st_uid, st.st_gid, st.st_mode & 0o7777, owner, group)


def mac_status(root: Path = Path("/")) -> tuple[str, ...]:
    """The active Linux security modules libvirt confines QEMU with."""
    found = []
    try:
        if (root / "sys/module/apparmor/parameters/enabled").read_text().strip() == "Y":
            found.append("AppArmor")
    except OSError:
        pass
    try:
        enforce = (root / "sys/fs/selinux/enforce").read_text().strip()
        found.append("SELinux (enforcing)" if enforce == "1" else "SELinux (permissive)")
    except OSError:
        pass
    return tuple(found)


def kernel_log(
    command: Sequence[str] = DMESG, root: Path = Path("/"), timeout: float = DMESG_TIMEOUT_S
) -> KernelLog:
    """AppArmor/SELinux denial lines from ``dmesg``. Unreadable (``kernel.dmesg_restrict``,
    no dmesg, a timeout) says so: never "no denials" when nothing could be read."""
    mac = mac_status(root)
    try:
        proc = subprocess.run(
            list(command), capture_output=True, text=True, errors="replace", timeout=timeout
        )
    except FileNotFoundError:
        return KernelLog(False, f"{command[0]} is not installed", mac=mac)
    except subprocess.TimeoutExpired:
        return KernelLog(False, f"{command[0]} did not answer within {timeout:g} s", mac=mac)
    except OSError as exc:
        return KernelLog(False, f"{command[0]}: {exc.strerror or exc}", mac=mac)
    if proc.returncode != 0:
        why = next((ln.strip() for ln in proc.stderr.splitlines() if ln.strip()), "")
        restricted = _dmesg_restricted(root)
        why = why or f"exit status {proc.returncode}"
        return KernelLog(
            False, why + (" (kernel.dmesg_restrict = 1)" if restricted else ""), mac=mac
        )
    denials = [ln for ln in proc.stdout.splitlines() if DENIAL.search(ln)]
    return KernelLog(True, denials=tuple(denials[-MAX_DENIALS:]), mac=mac)


def _dmesg_restricted(root: Path) -> bool:
    try:
        return (root / "proc/sys/kernel/dmesg_restrict").read_text().strip() == "1"
    except OSError:
        return False


def probe_device(
    dev: UsbDevice,
    *,
    root: Path = Path("/"),
    session: bool = False,
    command: Sequence[str] = DMESG,
) -> HostProbe:
    """Every local probe for ``dev`` (blocks: files and ``dmesg``)."""
    return HostProbe(
        LOCAL,
        node=device_node(dev.busnum, dev.devnum, root),
        qemu=qemu_user(root, session=session),
        kernel=kernel_log(command, root),
    )


def probe_host(
    *, root: Path = Path("/"), session: bool = False, command: Sequence[str] = DMESG
) -> HostProbe:
    """The local probes without a device (the USB doctor's host report): ``/dev/bus/usb``
    itself, the QEMU user, the kernel log (blocks: files and ``dmesg``)."""
    return HostProbe(
        LOCAL,
        node=_node("/dev/bus/usb", root),
        qemu=qemu_user(root, session=session),
        kernel=kernel_log(command, root),
    )
