"""The CPU side of the doctor: vendor and vmx/svm flags, host-is-a-guest, KVM modules and nested."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.adapters.local.rootfs import at, list_dir, read_text, read_word
from tui.model.vt import Check, Status

HW_MODULES = {"kvm_intel": "vmx", "kvm_amd": "svm"}
KVM_MODULES = ("kvm_intel", "kvm_amd", "kvm_pvm")
VENDOR_MODE = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "amd"}


@dataclass(frozen=True)
class CpuInfo:
    readable: bool
    vendor: str = ""
    model_name: str = ""
    flags: frozenset[str] = frozenset()

    @property
    def virt_flag(self) -> str | None:
        return "vmx" if "vmx" in self.flags else "svm" if "svm" in self.flags else None


def read_cpuinfo(root: Path) -> CpuInfo:
    """The first processor's vendor, model and ``flags`` line.

    Only the key ``flags`` counts: newer kernels add a separate ``vmx flags`` line.
    """
    text = read_text(root, "proc/cpuinfo")
    if text is None:
        return CpuInfo(readable=False)
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # end of the first processor block
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return CpuInfo(
        readable=True,
        vendor=fields.get("vendor_id", ""),
        model_name=fields.get("model name", ""),
        flags=frozenset(fields.get("flags", "").split()),
    )


def host_is_guest(root: Path, cpu: CpuInfo) -> tuple[bool | None, str]:
    """(is this host itself a VM?, how we know)."""
    if "hypervisor" in cpu.flags:
        return True, "'hypervisor' CPU flag"
    kind = read_word(root, "sys/hypervisor/type")
    if kind:
        return True, f"/sys/hypervisor/type is {kind}"
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


@dataclass(frozen=True)
class KvmModule:
    name: str
    builtin: bool
    nested: bool | None  # None: the module has no 'nested' parameter
    nested_raw: str | None = None


def _parse_bool(raw: str | None) -> bool | None:
    if raw is None:
        return None
    low = raw.strip().lower()
    if low in ("y", "1", "yes"):
        return True
    if low in ("n", "0", "no"):
        return False
    return None


def kvm_modules(root: Path) -> tuple[KvmModule, ...]:
    """KVM vendor modules present in /sys/module (loaded or built in; /proc/modules may be absent)."""
    names = set(list_dir(root, "sys/module") or [])
    found = []
    for name in KVM_MODULES:
        if name not in names:
            continue
        raw = read_word(root, f"sys/module/{name}/parameters/nested")
        # Loadable modules have 'initstate'; built-in ones only have parameters.
        builtin = not at(root, f"sys/module/{name}/initstate").exists()
        found.append(KvmModule(name, builtin, _parse_bool(raw), raw))
    return tuple(found)


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
