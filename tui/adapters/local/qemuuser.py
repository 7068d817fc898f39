"""The one QEMU-user reader: who libvirt runs QEMU as, from qemu.conf and /etc/passwd, group.

The virtualization doctor asks whether that user may open /dev/kvm, the USB doctor whether it
may open a device node; both judge the :class:`tui.model.hostfacts.QemuUser` read here. The
groups are libvirt's (``virGetGroupList``): the user's primary group, the configured ``group``
(or the build's default group, named like its default user), and every group listing the user.
Everything is read under ``root`` so tests point it at a tree of their own.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

from tui.adapters.local.rootfs import lookup_group, lookup_user, member_gids, read_text
from tui.model.hostfacts import QemuUser

QEMU_CONF = "etc/libvirt/qemu.conf"
DEFAULT_USERS = ("libvirt-qemu", "qemu")  # Debian/Ubuntu builds, Fedora/RHEL builds
_SETTING = re.compile(r"^\s*(user|group|dynamic_ownership)\s*=\s*(\"[^\"]*\"|[^#\s]+)")


def qemu_conf(root: Path = Path("/")) -> dict[str, str]:
    """``user``, ``group`` and ``dynamic_ownership`` as qemu.conf sets them (unquoted).
    Raises OSError when the file cannot be read."""
    found: dict[str, str] = {}
    for line in (Path(root) / QEMU_CONF).read_text(errors="replace").splitlines():
        m = _SETTING.match(line)
        if m:
            found[m.group(1)] = m.group(2).strip('"')
    return found


def _numeric(spec: str) -> int | None:
    """qemu.conf's "+N": the id N."""
    return int(spec[1:]) if spec.startswith("+") and spec[1:].isdigit() else None


def _name_of(root: Path, uid: int) -> str | None:
    for line in (read_text(root, "etc/passwd") or "").splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2] == str(uid):
            return parts[0]
    return None


def qemu_user(root: Path = Path("/"), *, session: bool = False) -> QemuUser:
    """Who QEMU runs as. ``session`` (qemu:///session): the user running kvmdeck."""
    if session:
        return QemuUser(
            getpass.getuser(), "", "qemu:///session", os.getuid(), tuple(os.getgroups()), False
        )
    root = Path(root)
    error = ""
    try:
        conf = qemu_conf(root)
    except OSError as exc:
        conf, error = {}, f"cannot read /{QEMU_CONF}: {exc.strerror or exc}"
    source = f"/{QEMU_CONF}"
    user = conf.get("user", "")
    if not user:
        source = "libvirt's default"
        user = next((u for u in DEFAULT_USERS if lookup_user(root, u)), DEFAULT_USERS[0])
    uid = _numeric(user)
    name: str | None = user
    primary: int | None = None
    if uid is not None:
        name = _name_of(root, uid)
    entry = lookup_user(root, name) if name else None
    if entry is not None:
        uid, primary = entry
    group = conf.get("group", "")
    gid = _numeric(group) if group else None
    if group and gid is None:
        gid = lookup_group(root, group)
    elif not group and user in DEFAULT_USERS:
        gid = lookup_group(root, user)  # the build's default group is named like its user
    gids = [g for g in (primary, gid) if g is not None]
    if name and entry is not None:
        gids += sorted(member_gids(root, name))
    dynamic = conf.get("dynamic_ownership", "1").strip() != "0"
    return QemuUser(user, group, source, uid, tuple(dict.fromkeys(gids)), dynamic, error)


__all__ = ["DEFAULT_USERS", "qemu_conf", "qemu_user"]
