"""The rest of what virt-host-validate checks, plus USB and udev (each reads under ``root``)."""

from __future__ import annotations

from pathlib import Path

from tui.adapters.local.rootfs import at, list_dir, read_text, read_word
from tui.model.vt import Check, Status

# libvirt's QEMU driver wants these v1 controllers; the v2 equivalents are in V2_EQUIV.
CGROUP_NEEDED = ("cpu", "cpuacct", "cpuset", "memory", "devices", "blkio")
V2_EQUIV = {"cpuacct": "cpu", "blkio": "io", "devices": None}  # None: BPF, always there on v2
IOMMU_HINTS = ("intel_iommu=on", "amd_iommu=on", "iommu=pt", "iommu=on", "iommu=force")


def _device(root: Path, rel: str, key: str, title: str, fix: str) -> Check:
    if at(root, rel).exists():
        return Check(key, title, Status.OK, f"/{rel} present")
    return Check(key, title, Status.WARN, f"no /{rel}", fix)


def vhost_net_check(root: Path) -> Check:
    return _device(
        root,
        "dev/vhost-net",
        "vhost_net",
        "vhost-net",
        "modprobe vhost_net (guest networking works without it, but slower)",
    )


def tun_check(root: Path) -> Check:
    return _device(root, "dev/net/tun", "tun", "TUN/TAP", "modprobe tun (needed for tap NICs)")


def cgroup_controllers(root: Path) -> tuple[set[str], set[str] | None] | None:
    """(v1 controllers mounted, v2 controllers or None without a cgroup2 mount); None: unreadable."""
    text = read_text(root, "proc/self/mounts")
    if text is None:
        return None
    v1: set[str] = set()
    v2: set[str] | None = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        mountpoint, fstype, options = parts[1], parts[2], parts[3].split(",")
        if fstype == "cgroup":
            v1.update(o for o in options if o in CGROUP_NEEDED or o in ("freezer", "pids"))
        elif fstype == "cgroup2":
            ctl = read_word(root, f"{mountpoint}/cgroup.controllers") or ""
            v2 = (v2 or set()) | set(ctl.split())
    return v1, v2


def cgroup_check(root: Path) -> Check:
    title = "cgroup controllers"
    found = cgroup_controllers(root)
    if found is None:
        return Check("cgroups", title, Status.UNKNOWN, "/proc/self/mounts unreadable")
    v1, v2 = found
    missing = []
    for name in CGROUP_NEEDED:
        if name in v1:
            continue
        if v2 is not None:
            equiv = V2_EQUIV.get(name, name)
            if equiv is None or equiv in v2:
                continue
        missing.append(name)
    kind = "v1" if v1 and v2 is None else "v2" if not v1 and v2 is not None else "hybrid"
    if not v1 and v2 is None:
        return Check(
            "cgroups",
            title,
            Status.WARN,
            "no cgroup file system mounted",
            "Mount cgroup2 on /sys/fs/cgroup (systemd does this).",
        )
    if missing:
        return Check(
            "cgroups",
            title,
            Status.WARN,
            f"{kind}: missing {', '.join(missing)}",
            "Mount the missing controllers (or enable them in cgroup.subtree_control).",
        )
    return Check("cgroups", title, Status.OK, f"{kind}: {', '.join(CGROUP_NEEDED)} available")


def iommu_check(root: Path) -> Check:
    title = "IOMMU (PCI passthrough)"
    tables = set(list_dir(root, "sys/firmware/acpi/tables") or [])
    acpi = sorted(tables & {"DMAR", "IVRS"})
    groups = list_dir(root, "sys/kernel/iommu_groups") or []
    cmdline = (read_text(root, "proc/cmdline") or "").split()
    hints = [w for w in cmdline if w in IOMMU_HINTS]
    table = f"ACPI {'/'.join(acpi)}" if acpi else "no DMAR/IVRS table"
    hint = f"cmdline {' '.join(hints)}" if hints else "no IOMMU hint on the kernel command line"
    if groups:
        return Check("iommu", title, Status.OK, f"{len(groups)} IOMMU groups; {table}; {hint}")
    if acpi:
        arg = "amd_iommu=on" if "IVRS" in acpi else "intel_iommu=on"
        return Check(
            "iommu",
            title,
            Status.WARN,
            f"{table} but no IOMMU groups; {hint}",
            f"Add {arg} iommu=pt to the kernel command line and reboot.",
        )
    return Check(
        "iommu",
        title,
        Status.WARN,
        f"{table}, no IOMMU groups: no PCI passthrough",
        "Enable VT-d / AMD-Vi (IOMMU) in the firmware setup.",
    )


def _kib(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits or 0)


def hugepages_check(root: Path) -> Check:
    title = "Huge pages"
    names = list_dir(root, "sys/kernel/mm/hugepages") or []
    sizes = sorted((d for d in names if d.startswith("hugepages-")), key=_kib)
    if not sizes:
        return Check(
            "hugepages",
            title,
            Status.WARN,
            "no huge page support",
            "Use a kernel with CONFIG_HUGETLBFS (guests run without it).",
        )
    parts = []
    for d in sizes:
        count = read_word(root, f"sys/kernel/mm/hugepages/{d}/nr_hugepages") or "?"
        parts.append(f"{d.removeprefix('hugepages-')}: {count} reserved")
    return Check("hugepages", title, Status.OK, "; ".join(parts))


def usb_check(root: Path) -> Check:
    title = "USB bus (passthrough)"
    if not at(root, "sys/bus/usb").is_dir():
        return Check(
            "usb",
            title,
            Status.WARN,
            "no /sys/bus/usb: USB passthrough is unavailable",
            "This host has no USB controller (common in VMs): add one to use USB.",
        )
    devices = list_dir(root, "sys/bus/usb/devices") or []
    return Check("usb", title, Status.OK, f"/sys/bus/usb present, {len(devices)} device(s)")


def udev_check(root: Path) -> Check:
    title = "udev daemon"
    if at(root, "run/udev").is_dir():
        return Check("udev", title, Status.OK, "/run/udev present")
    return Check(
        "udev",
        title,
        Status.WARN,
        "no /run/udev: no hwdb names, no bind events for USB devices",
        "Start systemd-udevd (or eudev).",
    )


def extra_checks(root: Path) -> tuple[Check, ...]:
    return (
        vhost_net_check(root),
        tun_check(root),
        cgroup_check(root),
        iommu_check(root),
        hugepages_check(root),
        usb_check(root),
        udev_check(root),
    )
