"""Firmware-disabled VT: the kernel log's "disabled by BIOS" lines and kvm-ok's MSR checks.

Both say "unknown" when they cannot see, never a guess.
"""

from __future__ import annotations

import errno
import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui.adapters.local.rootfs import at
from tui.model.vt import Check, Status

LOG_MAX_BYTES = 4 << 20
LOG_MAX_RECORDS = 100_000
LOG_DEADLINE_S = 0.5

BIOS_LINE = re.compile(
    r"VMX \(outside TXT\) disabled by BIOS"
    r"|kvm: disabled by bios"
    r"|VMX not enabled \(by BIOS\)"
    r"|SVM disabled \(by BIOS\)",
    re.IGNORECASE,
)
BOOT_BANNER = "Linux version "
_KMSG_PREFIX = re.compile(r"^\d+,\d+,\d+,[^;]*;")

MSR_FEATURE_CONTROL = 0x3A  # Intel IA32_FEATURE_CONTROL: bit 0 lock, bit 2 VMX outside SMX
MSR_VM_CR = 0xC0010114  # AMD VM_CR: bit 4 SVMDIS


@dataclass(frozen=True)
class KernelLog:
    source: str | None  # "/dev/kmsg", "/var/log/kern.log" or None
    lines: tuple[str, ...] = ()
    covers_boot: bool = False  # the boot banner is in what we read
    error: str = ""


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
        return KernelLog(None, error="; ".join(errors))
    boots = [i for i, line in enumerate(lines) if BOOT_BANNER in line]
    if boots:  # only the current (last) boot counts
        return KernelLog("/var/log/kern.log", tuple(lines[boots[-1] :]), True)
    return KernelLog("/var/log/kern.log", tuple(lines), False)


def bios_log_check(log: KernelLog) -> Check:
    title = "Firmware VT (kernel log)"
    if log.source is None:
        return Check(
            "bios_log",
            title,
            Status.UNKNOWN,
            f"kernel log unreadable ({log.error})",
            "Run as root (or set kernel.dmesg_restrict=0) to read the kernel log.",
        )
    hits = [line for line in log.lines if BIOS_LINE.search(line)]
    if hits:
        return Check(
            "bios_log",
            title,
            Status.FAIL,
            f"{log.source}: {hits[0].strip()}",
            "Enable Intel VT-x / AMD-V (SVM) in the firmware setup, then power-cycle.",
        )
    if log.covers_boot:
        return Check(
            "bios_log",
            title,
            Status.OK,
            f"no 'disabled by BIOS' line since boot ({log.source}, {len(log.lines)} lines)",
        )
    return Check(
        "bios_log",
        title,
        Status.UNKNOWN,
        f"{log.source} no longer holds the boot messages",
        "",
    )


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


def msr_check(root: Path, vendor: str, reader: MsrReader = read_msr) -> Check:
    """kvm-ok's test: Intel FEATURE_CONTROL locked without VMX, or AMD VM_CR.SVMDIS set."""
    title = "Firmware VT (MSR)"
    path = at(root, "dev/cpu/0/msr")
    if vendor not in ("GenuineIntel", "AuthenticAMD", "HygonGenuine"):
        return Check("bios_msr", title, Status.UNKNOWN, f"no MSR test for vendor {vendor!r}")
    if not path.exists():
        return Check(
            "bios_msr",
            title,
            Status.UNKNOWN,
            "no /dev/cpu/0/msr",
            "As root: modprobe msr, then run the doctor again.",
        )
    index = MSR_FEATURE_CONTROL if vendor == "GenuineIntel" else MSR_VM_CR
    try:
        value = reader(path, index)
    except OSError as exc:
        return Check(
            "bios_msr",
            title,
            Status.UNKNOWN,
            f"/dev/cpu/0/msr: {exc.strerror or exc}",
            "Run as root to read MSRs.",
        )
    fix = "Enable Intel VT-x / AMD-V (SVM) in the firmware setup, then power-cycle."
    if vendor == "GenuineIntel":
        locked, vmx = bool(value & 1), bool(value & 4)
        if locked and not vmx:
            return Check(
                "bios_msr",
                title,
                Status.FAIL,
                f"IA32_FEATURE_CONTROL={value:#x}: locked with VMX off",
                fix,
            )
        state = "VMX on" if vmx else "unlocked (KVM may enable VMX)"
        return Check("bios_msr", title, Status.OK, f"IA32_FEATURE_CONTROL={value:#x}: {state}")
    if value & 0x10:
        return Check("bios_msr", title, Status.FAIL, f"VM_CR={value:#x}: SVMDIS set", fix)
    return Check("bios_msr", title, Status.OK, f"VM_CR={value:#x}: SVM allowed")
