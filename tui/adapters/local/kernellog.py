"""The one kernel-log reader: /dev/kmsg (what is buffered), else /var/log/kern.log.

The virtualization doctor looks for "disabled by BIOS" lines in it, the USB doctor for
AppArmor/SELinux denials; both judge :class:`tui.model.hostfacts.KernelLog`, read here once per
report. Reading is bounded (:data:`LOG_MAX_BYTES`, :data:`LOG_MAX_RECORDS`, :data:`LOG_DEADLINE_S`)
and never blocks on /dev/kmsg. Unreadable says why, never an empty log.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

from tui.adapters.local.rootfs import at, read_word
from tui.model.hostfacts import KernelLog

LOG_MAX_BYTES = 4 << 20
LOG_MAX_RECORDS = 100_000
LOG_DEADLINE_S = 0.5
BOOT_BANNER = "Linux version "
_KMSG_PREFIX = re.compile(r"^\d+,\d+,\d+,[^;]*;")


def _read_kmsg(path: Path, deadline: float) -> bytes:
    """What /dev/kmsg has buffered (one record per read on the device), non-blocking, bounded."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    chunks: list[bytes] = []
    size = 0
    try:
        for _ in range(LOG_MAX_RECORDS):
            if size >= LOG_MAX_BYTES or time.monotonic() > deadline:
                break
            try:
                chunk = os.read(fd, 8192)
            except BlockingIOError:
                break  # nothing more buffered
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # a record was overwritten while we read: go on
                raise
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_tail(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - LOG_MAX_BYTES))
        return handle.read(LOG_MAX_BYTES)


def _lines(data: bytes) -> list[str]:
    out = []
    for raw in data.decode("utf-8", errors="replace").splitlines():
        if raw.startswith(" "):
            continue  # kmsg continuation (SUBSYSTEM=…, DEVICE=…)
        out.append(_KMSG_PREFIX.sub("", raw))
    return out


def read_kernel_log(root: Path) -> KernelLog:
    """The kernel log since boot: /dev/kmsg (what is buffered), else /var/log/kern.log."""
    errors = []
    try:
        lines = _lines(_read_kmsg(at(root, "dev/kmsg"), time.monotonic() + LOG_DEADLINE_S))
        return KernelLog("/dev/kmsg", tuple(lines), any(BOOT_BANNER in x for x in lines))
    except OSError as exc:
        errors.append(f"/dev/kmsg: {exc.strerror or exc}")
    try:
        lines = _lines(_read_tail(at(root, "var/log/kern.log")))
    except OSError as exc:
        errors.append(f"/var/log/kern.log: {exc.strerror or exc}")
        restricted = read_word(root, "proc/sys/kernel/dmesg_restrict") == "1"
        return KernelLog(
            None, error="; ".join(errors) + (" (kernel.dmesg_restrict = 1)" if restricted else "")
        )
    boots = [i for i, line in enumerate(lines) if BOOT_BANNER in line]
    if boots:  # only the current (last) boot counts
        return KernelLog("/var/log/kern.log", tuple(lines[boots[-1] :]), True)
    return KernelLog("/var/log/kern.log", tuple(lines), False)


__all__ = ["BOOT_BANNER", "KernelLog", "read_kernel_log"]
