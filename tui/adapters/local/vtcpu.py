"""The CPU side of the virtualization doctor, read: vendor and flags, the hypervisor type, the
KVM modules and their nested parameter (judged in :mod:`tui.core.vt.checks`)."""

from __future__ import annotations

from pathlib import Path

from tui.adapters.local.rootfs import at, list_dir, read_text, read_word
from tui.model.vtfacts import CpuInfo, KvmModule

KVM_MODULES = ("kvm_intel", "kvm_amd", "kvm_pvm")


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


def hypervisor_type(root: Path) -> str | None:
    """/sys/hypervisor/type (xen, …), None when absent."""
    return read_word(root, "sys/hypervisor/type") or None


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
