"""The virtualization doctor's judging of the CPU, the KVM modules, /dev/kvm, the firmware and
libvirt's QEMU user (pure: every fact comes in as a value, read by :mod:`tui.adapters.local`).

Each check says "unknown" when its fact could not be read, never a guess.
"""

from __future__ import annotations

import errno
import re

from tui.model.hostfacts import KernelLog, QemuUser
from tui.model.vt import Check, Status
from tui.model.vtfacts import MSR_INDEX, CpuInfo, DevKvmFacts, Identity, KvmModule, MsrRead

HW_MODULES = {"kvm_intel": "vmx", "kvm_amd": "svm"}
VENDOR_MODE = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "amd"}
BIOS_LINE = re.compile(
    r"VMX \(outside TXT\) disabled by BIOS"
    r"|kvm: disabled by bios"
    r"|VMX not enabled \(by BIOS\)"
    r"|SVM disabled \(by BIOS\)",
    re.IGNORECASE,
)
QEMU_USER_TITLE = "/dev/kvm for libvirt's QEMU user"


# -- the CPU -------------------------------------------------------------------------------
def host_is_guest(cpu: CpuInfo, hypervisor_type: str | None) -> tuple[bool | None, str]:
    """(is this host itself a VM?, how we know)."""
    if "hypervisor" in cpu.flags:
        return True, "'hypervisor' CPU flag"
    if hypervisor_type:
        return True, f"/sys/hypervisor/type is {hypervisor_type}"
    if cpu.readable:
        return False, "no 'hypervisor' CPU flag, no /sys/hypervisor/type"
    return None, "/proc/cpuinfo unreadable"


def cpu_check(cpu: CpuInfo, pvm_loaded: bool, is_guest: bool | None) -> Check:
    title = "CPU virtualization flags"
    if not cpu.readable:
        return Check("cpu", title, Status.UNKNOWN, "/proc/cpuinfo unreadable", "Mount /proc.")
    who = cpu.vendor or "unknown vendor"
    if cpu.virt_flag:
        return Check("cpu", title, Status.OK, f"{who}: '{cpu.virt_flag}' in flags")
    if pvm_loaded:
        return Check(
            "cpu",
            title,
            Status.WARN,
            f"{who}: no vmx/svm in flags; KVM runs through kvm_pvm instead "
            "(kvm-ok and virt-host-validate wrongly say FAIL here)",
            "Nothing to do for PVM; for hardware KVM, enable nested virtualization on the "
            "outer hypervisor.",
        )
    fix = (
        "Enable nested virtualization on the outer hypervisor, or load kvm_pvm."
        if is_guest
        else "Enable VT-x/AMD-V (SVM) in the firmware setup; see the firmware checks."
    )
    return Check("cpu", title, Status.FAIL, f"{who}: no vmx/svm in flags", fix)


# -- the KVM modules -----------------------------------------------------------------------
def active_module(mods: tuple[KvmModule, ...], cpu: CpuInfo) -> KvmModule | None:
    """The module KVM runs through: a hardware one whose CPU flag is present, else kvm_pvm."""
    for mod in mods:
        if mod.name in HW_MODULES and HW_MODULES[mod.name] in cpu.flags:
            return mod
    return next((m for m in mods if m.name == "kvm_pvm"), None)


def module_check(mods: tuple[KvmModule, ...], active: KvmModule | None, cpu: CpuInfo) -> Check:
    title = "KVM module"
    if active is not None:
        how = "built in" if active.builtin else "loaded"
        others = [m.name for m in mods if m is not active]
        extra = f" (also present: {', '.join(others)})" if others else ""
        return Check("module", title, Status.OK, f"{active.name} {how}{extra}")
    if mods:
        names = ", ".join(m.name for m in mods)
        return Check(
            "module",
            title,
            Status.FAIL,
            f"{names} present but the CPU lacks its flag",
            "Enable VT-x/AMD-V in the firmware setup.",
        )
    want = {"vmx": "kvm_intel", "svm": "kvm_amd"}.get(cpu.virt_flag or "")
    fix = (
        f"modprobe {want} (dmesg says why if it fails)"
        if want
        else "The CPU shows no vmx/svm: fix that first (see the CPU and firmware checks)."
    )
    return Check(
        "module", title, Status.FAIL, "no kvm_intel, kvm_amd or kvm_pvm in /sys/module", fix
    )


def nested_check(active: KvmModule | None) -> Check:
    title = "Nested virtualization"
    if active is None:
        return Check("nested", title, Status.UNKNOWN, "no KVM module")
    if active.nested is None:
        what = (
            "has no 'nested' parameter"
            if active.nested_raw is None
            else (f"nested={active.nested_raw!r} not understood")
        )
        return Check("nested", title, Status.UNKNOWN, f"{active.name} {what}")
    if active.nested:
        return Check("nested", title, Status.OK, f"{active.name} nested={active.nested_raw}")
    return Check(
        "nested",
        title,
        Status.WARN,
        f"{active.name} nested={active.nested_raw}: guests cannot run KVM themselves",
        f"echo 'options {active.name} nested=1' > /etc/modprobe.d/kvm-nested.conf; "
        f"reload {active.name}",
    )


# -- /dev/kvm ------------------------------------------------------------------------------
def dev_kvm_checks(dev: DevKvmFacts, module_loaded: bool) -> tuple[Check, Check, Check]:
    """/dev/kvm exists, this user may open it, the functional probe."""
    node = dev.node
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
        return missing, skip, noprobe
    kind = f"character device {node.rdev[0]}:{node.rdev[1]}" if node.is_char else "not a device"
    exists = Check(
        "dev_kvm", "/dev/kvm", Status.OK, f"{kind}, mode {node.mode:04o} {dev.owner}:{dev.group}"
    )
    if dev.accessible:
        access = Check(
            "dev_kvm_access",
            "/dev/kvm access",
            Status.OK,
            f"this user ({dev.user}, uid {dev.uid}) can open it read-write",
        )
    else:
        access = Check(
            "dev_kvm_access",
            "/dev/kvm access",
            Status.WARN,
            f"this user ({dev.user}, uid {dev.uid}) cannot open it read-write: owned by group "
            f"'{dev.group}', mode {node.mode:04o}",
            f"usermod -aG {dev.group} {dev.user}, then log in again (qemu:///system does not "
            "need this: QEMU runs as its own user)",
        )
    result = dev.probe
    if result is None:
        probe_check = Check(
            "kvm_probe",
            "KVM functional probe",
            Status.UNKNOWN,
            "not attempted: this user may not open /dev/kvm",
            "Run the doctor as root or as a member of the owning group.",
        )
    else:
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
    return exists, access, probe_check


def qemu_user_check(dev: DevKvmFacts, qemu: QemuUser) -> Check:
    """May libvirt's QEMU user open /dev/kvm? libvirt (``virQEMUCapsKVMUsable``) asks before
    every capabilities lookup; when it fails but the last QEMU probe had KVM, libvirt drops
    its capability cache and probes QEMU again on every lookup: each call then takes seconds."""
    title, node = QEMU_USER_TITLE, dev.node
    if not node.exists:
        return Check("qemu_user", title, Status.UNKNOWN, "no /dev/kvm")
    if qemu.uid is None:
        return Check(
            "qemu_user", title, Status.UNKNOWN, f"no user {qemu.user!r} (is libvirt installed?)"
        )
    if node.allows_rw(Identity(qemu.uid, frozenset(qemu.gids))):
        return Check(
            "qemu_user",
            title,
            Status.OK,
            f"{qemu.user} may open it (mode {node.mode:04o}, group {dev.group})",
        )
    return Check(
        "qemu_user",
        title,
        Status.WARN,
        f"{qemu.user} may not open it (mode {node.mode:04o}, group {dev.group}): libvirt's own "
        "KVM test fails, so it offers only TCG or re-probes QEMU on every call (slow)",
        "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (udev's rule does this at boot; "
        "without udev, do it in a boot script)",
    )


# -- the firmware --------------------------------------------------------------------------
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
        "bios_log", title, Status.UNKNOWN, f"{log.source} no longer holds the boot messages", ""
    )


def msr_check(vendor: str, msr: MsrRead) -> Check:
    """kvm-ok's test: Intel FEATURE_CONTROL locked without VMX, or AMD VM_CR.SVMDIS set."""
    title = "Firmware VT (MSR)"
    if vendor not in MSR_INDEX:
        return Check("bios_msr", title, Status.UNKNOWN, f"no MSR test for vendor {vendor!r}")
    if not msr.present:
        return Check(
            "bios_msr",
            title,
            Status.UNKNOWN,
            "no /dev/cpu/0/msr",
            "As root: modprobe msr, then run the doctor again.",
        )
    if msr.value is None:
        return Check(
            "bios_msr",
            title,
            Status.UNKNOWN,
            f"/dev/cpu/0/msr: {msr.error}",
            "Run as root to read MSRs.",
        )
    value = msr.value
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
