"""The firmware MSR kvm-ok reads (Intel IA32_FEATURE_CONTROL, AMD VM_CR), read through the msr
driver's file; judged in :func:`tui.core.vt.checks.msr_check`. The kernel log's "disabled by
BIOS" lines come from the one kernel-log reader (:mod:`tui.adapters.local.kernellog`)."""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from pathlib import Path

from tui.adapters.local.rootfs import at
from tui.model.vtfacts import MsrRead

MsrReader = Callable[[Path, int], int]


def read_msr(path: Path, index: int) -> int:
    """One 64-bit MSR through the msr driver's file (pread at the MSR's index)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, 8, index)
    finally:
        os.close(fd)
    if len(data) != 8:
        raise OSError(errno.EIO, f"short MSR read at {index:#x}")
    return int(struct.unpack("<Q", data)[0])


def read_msr_fact(root: Path, index: int | None, reader: MsrReader = read_msr) -> MsrRead:
    """MSR ``index`` of CPU 0 (None: the vendor has no test, nothing is read)."""
    path = at(root, "dev/cpu/0/msr")
    if not path.exists():
        return MsrRead(False)
    if index is None:
        return MsrRead(True)
    try:
        return MsrRead(True, reader(path, index))
    except OSError as exc:
        return MsrRead(True, error=str(exc.strerror or exc))
