"""/dev/kvm, read: does it exist, may this user open it read-write, does KVM answer the ioctls
(judged in :mod:`tui.core.vt.checks`)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from tui.adapters.local.rootfs import at, group_name, user_name
from tui.model.vt import Status
from tui.model.vtfacts import DevKvmFacts, Identity, Node, ProbeResult

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_API_VERSION = 12


def current_identity() -> Identity:
    """This process's effective uid and groups."""
    return Identity(os.geteuid(), frozenset([os.getegid(), *os.getgroups()]))


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


def may_open_rw(path: Path, node: Node, who: Identity | None) -> bool:
    """``who=None``: this process, via access(2) with the effective ids (honours ACLs)."""
    if who is None:
        return os.access(
            path, os.R_OK | os.W_OK, effective_ids=os.access in os.supports_effective_ids
        )
    return node.allows_rw(who)


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


def read_dev_kvm(
    root: Path, who: Identity | None = None, probe: KvmProbe = probe_kvm
) -> DevKvmFacts:
    """/dev/kvm under ``root``: its stat and names, whether ``who`` (None: this process, by
    access(2)) may open it read-write, and the functional probe when it may."""
    path = at(root, "dev/kvm")
    node = stat_node(path)
    if not node.exists:
        return DevKvmFacts(node)
    ident = who or current_identity()
    accessible = may_open_rw(path, node, who)
    return DevKvmFacts(
        node,
        user_name(root, node.uid),
        group_name(root, node.gid),
        user_name(root, ident.uid),
        ident.uid,
        accessible,
        probe(path) if accessible else None,
    )
