"""Firmware-disabled VT: the kernel log's "disabled by BIOS" lines and kvm-ok's MSR checks.

Both say "unknown" when they cannot see, never a guess.
"""

from __future__ import annotations

import errno
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path

from tui.adapters.local.rootfs import at
from tui.model.hostfacts import KernelLog
from tui.model.vt import Check, Status

BIOS_LINE = re.compile(
    r"VMX \(outside TXT\) disabled by BIOS"
    r"|kvm: disabled by bios"
    r"|VMX not enabled \(by BIOS\)"
    r"|SVM disabled \(by BIOS\)",
    re.IGNORECASE,
)

MSR_FEATURE_CONTROL = 0x3A  # Intel IA32_FEATURE_CONTROL: bit 0 lock, bit 2 VMX outside SMX
MSR_VM_CR = 0xC0010114  # AMD VM_CR: bit 4 SVMDIS


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
