"""Facts about this host that more than one doctor reads, as plain values.

One reader each, in :mod:`tui.adapters.local` (:func:`tui.adapters.local.kernellog.
read_kernel_log`, :func:`tui.adapters.local.qemuuser.qemu_user`); the virtualization doctor
and the USB doctor judge them in the core.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelLog:
    """The kernel log since boot, as far as it could be read."""

    source: str | None  # "/dev/kmsg", "/var/log/kern.log", or None: unreadable
    lines: tuple[str, ...] = ()
    covers_boot: bool = False  # the boot banner is in what was read
    error: str = ""  # why it could not be read ("/dev/kmsg: Operation not permitted; …")

    @property
    def readable(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class QemuUser:
    """Who QEMU runs as: qemu.conf ``user``/``group`` (or the build's default), with the groups
    libvirt gives it (``virGetGroupList``: the user's primary group, the configured group, and
    every group that lists the user as a member)."""

    user: str  # as configured: "libvirt-qemu", "+0", "root"
    group: str = ""  # as configured ("" when qemu.conf sets none)
    source: str = ""  # "/etc/libvirt/qemu.conf", "libvirt's default", "qemu:///session"
    uid: int | None = None  # None: the user is not in /etc/passwd
    gids: tuple[int, ...] = ()
    dynamic_ownership: bool = True  # libvirt chowns device nodes to this user at attach
    error: str = ""  # qemu.conf could not be read

    @property
    def is_root(self) -> bool:
        return self.uid == 0 or self.user in ("root", "+0")


__all__ = ["KernelLog", "QemuUser"]
