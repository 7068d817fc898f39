"""May libvirt's QEMU user open /dev/kvm? libvirt asks this before every capabilities lookup.

libvirt (``virQEMUCapsKVMUsable``) checks /dev/kvm read-write access as the ``user``/``group`` of
qemu.conf (Debian: libvirt-qemu). When that fails but the last QEMU probe had KVM, libvirt
drops its capability cache and probes QEMU again on every lookup ("KVM was enabled when
probing …, but it is not available now"): each call then takes seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

from tui.adapters.local.rootfs import group_name, lookup_group, lookup_user, member_gids, read_text
from tui.adapters.local.vtdevkvm import Identity, Node, mode_allows_rw
from tui.model.vt import Check, Status

DEFAULT_USER = "libvirt-qemu"  # Debian's build defaults for qemu.conf user/group
DEFAULT_GROUP = "libvirt-qemu"
_SETTING = re.compile(r'^\s*(user|group)\s*=\s*"([^"]*)"', re.MULTILINE)
TITLE = "/dev/kvm for libvirt's QEMU user"


def qemu_conf_user(root: Path) -> tuple[str, str]:
    """(user, group) from ``root/etc/libvirt/qemu.conf``, or libvirt's defaults."""
    conf = dict(_SETTING.findall(read_text(root, "etc/libvirt/qemu.conf") or ""))
    return conf.get("user", DEFAULT_USER), conf.get("group", DEFAULT_GROUP)


def qemu_identity(root: Path) -> tuple[str, Identity] | None:
    """QEMU's identity as libvirt computes it: uid, primary gid, member groups, the set group."""
    user, group = qemu_conf_user(root)
    if user.startswith("+") and user[1:].isdigit():
        return user, Identity(int(user[1:]), frozenset())
    entry = lookup_user(root, user)
    if entry is None:
        return None
    uid, primary = entry
    gids = {primary, *member_gids(root, user)}
    gid = (
        int(group[1:])
        if group.startswith("+") and group[1:].isdigit()
        else lookup_group(root, group)
    )
    if gid is not None:
        gids.add(gid)
    return user, Identity(uid, frozenset(gids))


def qemu_user_check(root: Path, node: Node) -> Check:
    if not node.exists:
        return Check("qemu_user", TITLE, Status.UNKNOWN, "no /dev/kvm")
    found = qemu_identity(root)
    if found is None:
        user, _ = qemu_conf_user(root)
        return Check(
            "qemu_user", TITLE, Status.UNKNOWN, f"no user {user!r} (is libvirt installed?)"
        )
    user, who = found
    owner = group_name(root, node.gid)
    if mode_allows_rw(node, who):
        return Check(
            "qemu_user",
            TITLE,
            Status.OK,
            f"{user} may open it (mode {node.mode:04o}, group {owner})",
        )
    return Check(
        "qemu_user",
        TITLE,
        Status.WARN,
        f"{user} may not open it (mode {node.mode:04o}, group {owner}): libvirt's own KVM "
        "test fails, so it offers only TCG or re-probes QEMU on every call (slow)",
        "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (udev's rule does this at boot; "
        "without udev, do it in a boot script)",
    )
