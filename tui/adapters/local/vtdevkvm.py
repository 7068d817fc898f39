"""/dev/kvm: does it exist, may this user open it read-write, and does KVM answer the ioctls."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui.adapters.local.rootfs import at, group_name, user_name
from tui.model.vt import Check, Status

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_API_VERSION = 12


@dataclass(frozen=True)
class Identity:
    """Whose access to check. The doctor's own user is checked with access(2) (ACLs count)."""

    uid: int
    gids: frozenset[int]

    @classmethod
    def current(cls) -> Identity:
        return cls(os.geteuid(), frozenset([os.getegid(), *os.getgroups()]))


@dataclass(frozen=True)
class Node:
    exists: bool
    is_char: bool = False
    mode: int = 0
    uid: int = 0
    gid: int = 0
    rdev: tuple[int, int] = (0, 0)


def stat_node(path: Path) -> Node:
    try:
        st = os.stat(path)
    except OSError:
        return Node(False)
    return Node(
        True,
        stat.S_ISCHR(st.st_mode),
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        (os.major(st.st_rdev), os.minor(st.st_rdev)),
    )


def mode_allows_rw(node: Node, who: Identity) -> bool:
    """The classic owner/group/other test for read+write (root passes; ACLs are not seen)."""
    if who.uid == 0:
        return True
    if who.uid == node.uid:
        bits = (node.mode >> 6) & 0o6
    elif node.gid in who.gids:
        bits = (node.mode >> 3) & 0o6
    else:
        bits = node.mode & 0o6
    return bits == 0o6


def may_open_rw(path: Path, node: Node, who: Identity | None) -> bool:
    """``who=None``: this process, via access(2) with the effective ids (honours ACLs)."""
    if who is None:
        return os.access(
            path, os.R_OK | os.W_OK, effective_ids=os.access in os.supports_effective_ids
        )
    return mode_allows_rw(node, who)


@dataclass(frozen=True)
class ProbeResult:
    status: Status
    detail: str
    api_version: int | None = None
    vm_created: bool = False
    errno: int | None = None
    elapsed_ms: float = 0.0


KvmProbe = Callable[[Path], ProbeResult]


def probe_kvm(path: Path) -> ProbeResult:
    """Open ``path`` O_RDWR, KVM_GET_API_VERSION must be 12, KVM_CREATE_VM must give a fd.

    ENOTTY (the node is not KVM's, e.g. a plain file in a fixture tree) and EACCES mean
    "probe not possible here": status unknown. Everything opened is closed.
    """
    start = time.perf_counter()

    def took() -> float:
        return (time.perf_counter() - start) * 1000

    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        status = Status.UNKNOWN if exc.errno in (errno.EACCES, errno.EPERM) else Status.FAIL
        return ProbeResult(
            status, f"open: {os.strerror(exc.errno or 0)}", errno=exc.errno, elapsed_ms=took()
        )
    try:
        try:
            api = fcntl.ioctl(fd, KVM_GET_API_VERSION, 0)
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EINVAL):
                return ProbeResult(
                    Status.UNKNOWN,
                    "not a KVM device node (ENOTTY): probe not possible here",
                    errno=exc.errno,
                    elapsed_ms=took(),
                )
            return ProbeResult(
                Status.FAIL,
                f"KVM_GET_API_VERSION: {exc.strerror}",
                errno=exc.errno,
                elapsed_ms=took(),
            )
        if api != KVM_API_VERSION:
            return ProbeResult(
                Status.FAIL,
                f"KVM API version {api}, expected {KVM_API_VERSION}",
                api_version=api,
                elapsed_ms=took(),
            )
        try:
            vm_fd = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        except OSError as exc:
            return ProbeResult(
                Status.FAIL,
                f"KVM_CREATE_VM: {exc.strerror}",
                api_version=api,
                errno=exc.errno,
                elapsed_ms=took(),
            )
        os.close(vm_fd)
        return ProbeResult(
            Status.OK,
            f"API version {api}, KVM_CREATE_VM ok",
            api_version=api,
            vm_created=True,
            elapsed_ms=took(),
        )
    finally:
        os.close(fd)


@dataclass(frozen=True)
class DevKvm:
    """The three /dev/kvm checks and the facts the verdict needs."""

    node: Node
    accessible: bool
    probe: ProbeResult | None  # None: not attempted
    checks: tuple[Check, Check, Check]


def _describe(node: Node, root: Path) -> str:
    kind = f"character device {node.rdev[0]}:{node.rdev[1]}" if node.is_char else "not a device"
    return f"{kind}, mode {node.mode:04o} {user_name(root, node.uid)}:{group_name(root, node.gid)}"


def check_dev_kvm(
    root: Path, who: Identity | None = None, probe: KvmProbe = probe_kvm, module_loaded: bool = True
) -> DevKvm:
    path = at(root, "dev/kvm")
    node = stat_node(path)
    if not node.exists:
        fix = (
            "udev normally creates it: mknod /dev/kvm c 10 232; chgrp kvm /dev/kvm; "
            "chmod 0660 /dev/kvm"
            if module_loaded
            else "Load the KVM module first."
        )
        missing = Check("dev_kvm", "/dev/kvm", Status.FAIL, "no /dev/kvm", fix)
        skip = Check("dev_kvm_access", "/dev/kvm access", Status.UNKNOWN, "no /dev/kvm")
        noprobe = Check("kvm_probe", "KVM functional probe", Status.UNKNOWN, "no /dev/kvm")
        return DevKvm(node, False, None, (missing, skip, noprobe))
    exists = Check("dev_kvm", "/dev/kvm", Status.OK, _describe(node, root))
    ident = who or Identity.current()
    user = user_name(root, ident.uid)
    if may_open_rw(path, node, who):
        access = Check(
            "dev_kvm_access",
            "/dev/kvm access",
            Status.OK,
            f"this user ({user}, uid {ident.uid}) can open it read-write",
        )
    else:
        group = group_name(root, node.gid)
        access = Check(
            "dev_kvm_access",
            "/dev/kvm access",
            Status.WARN,
            f"this user ({user}, uid {ident.uid}) cannot open it read-write: owned by group "
            f"'{group}', mode {node.mode:04o}",
            f"usermod -aG {group} {user}, then log in again (qemu:///system does not need "
            "this: QEMU runs as its own user)",
        )
    if access.status is not Status.OK:
        result = None
        probe_check = Check(
            "kvm_probe",
            "KVM functional probe",
            Status.UNKNOWN,
            "not attempted: this user may not open /dev/kvm",
            "Run the doctor as root or as a member of the owning group.",
        )
    else:
        result = probe(path)
        fix = ""
        if result.status is Status.FAIL:
            fix = (
                "Another hypervisor (VirtualBox, VMware) may hold VT-x: stop it."
                if result.errno == errno.EBUSY
                else "Check dmesg for KVM errors."
            )
        detail = result.detail
        if result.status is Status.OK:
            detail += f" ({result.elapsed_ms:.1f} ms)"
        probe_check = Check("kvm_probe", "KVM functional probe", result.status, detail, fix)
    return DevKvm(node, access.status is Status.OK, result, (exists, access, probe_check))
