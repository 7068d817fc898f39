"""May libvirt's QEMU user open /dev/kvm? libvirt asks this before every capabilities lookup.

libvirt (``virQEMUCapsKVMUsable``) checks /dev/kvm read-write access as the ``user``/``group`` of
qemu.conf (Debian: libvirt-qemu). When that fails but the last QEMU probe had KVM, libvirt
drops its capability cache and probes QEMU again on every lookup ("KVM was enabled when
probing …, but it is not available now"): each call then takes seconds.
"""

from __future__ import annotations

from pathlib import Path

from tui.adapters.local.rootfs import group_name
from tui.adapters.local.vtdevkvm import Identity, Node, mode_allows_rw
from tui.model.hostfacts import QemuUser
from tui.model.vt import Check, Status

TITLE = "/dev/kvm for libvirt's QEMU user"


def qemu_user_check(root: Path, node: Node, qemu: QemuUser) -> Check:
    """``qemu``: from the one QEMU-user reader (tui.adapters.local.qemuuser)."""
    if not node.exists:
        return Check("qemu_user", TITLE, Status.UNKNOWN, "no /dev/kvm")
    if qemu.uid is None:
        return Check(
            "qemu_user", TITLE, Status.UNKNOWN, f"no user {qemu.user!r} (is libvirt installed?)"
        )
    user, who = qemu.user, Identity(qemu.uid, frozenset(qemu.gids))
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
