"""The rest of what virt-host-validate checks, plus USB and udev (pure: the facts come from
:func:`tui.adapters.local.vtextras.read_extras`; USB and udev from the same reader the USB
screen uses, :func:`tui.adapters.local.udev.usb_host_status`)."""

from __future__ import annotations

from tui.model.vt import Check, Status
from tui.model.vtfacts import ExtraFacts

# libvirt's QEMU driver wants these v1 controllers; the v2 equivalents are in V2_EQUIV.
CGROUP_NEEDED = ("cpu", "cpuacct", "cpuset", "memory", "devices", "blkio")
V2_EQUIV = {"cpuacct": "cpu", "blkio": "io", "devices": None}  # None: BPF, always there on v2
IOMMU_HINTS = ("intel_iommu=on", "amd_iommu=on", "iommu=pt", "iommu=on", "iommu=force")


def _device(present: bool, rel: str, key: str, title: str, fix: str) -> Check:
    if present:
        return Check(key, title, Status.OK, f"/{rel} present")
    return Check(key, title, Status.WARN, f"no /{rel}", fix)


def cgroup_check(found: tuple[frozenset[str], frozenset[str] | None] | None) -> Check:
    """``found``: (v1 controllers, v2 controllers or None without cgroup2), None: unreadable."""
    title = "cgroup controllers"
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


def iommu_check(facts: ExtraFacts) -> Check:
    title = "IOMMU (PCI passthrough)"
    acpi = sorted(facts.acpi_tables & {"DMAR", "IVRS"})
    hints = [w for w in facts.cmdline if w in IOMMU_HINTS]
    table = f"ACPI {'/'.join(acpi)}" if acpi else "no DMAR/IVRS table"
    hint = f"cmdline {' '.join(hints)}" if hints else "no IOMMU hint on the kernel command line"
    if facts.iommu_groups:
        return Check(
            "iommu", title, Status.OK, f"{facts.iommu_groups} IOMMU groups; {table}; {hint}"
        )
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


def hugepages_check(sizes: tuple[tuple[str, str], ...]) -> Check:
    title = "Huge pages"
    if not sizes:
        return Check(
            "hugepages",
            title,
            Status.WARN,
            "no huge page support",
            "Use a kernel with CONFIG_HUGETLBFS (guests run without it).",
        )
    parts = [f"{d.removeprefix('hugepages-')}: {count} reserved" for d, count in sizes]
    return Check("hugepages", title, Status.OK, "; ".join(parts))


def usb_check(facts: ExtraFacts) -> Check:
    title = "USB bus (passthrough)"
    usb = facts.usb
    if usb.error:
        return Check("usb", title, Status.UNKNOWN, usb.error)
    if not usb.bus:
        return Check(
            "usb",
            title,
            Status.WARN,
            "no /sys/bus/usb: USB passthrough is unavailable",
            "This host has no USB controller (common in VMs): add one to use USB.",
        )
    return Check("usb", title, Status.OK, f"/sys/bus/usb present, {facts.usb_devices} device(s)")


def udev_check(facts: ExtraFacts) -> Check:
    title = "udev daemon"
    if facts.usb.udev:
        return Check("udev", title, Status.OK, "/run/udev present")
    return Check(
        "udev",
        title,
        Status.WARN,
        "no /run/udev: no hwdb names, no bind events for USB devices",
        "Start systemd-udevd (or eudev).",
    )


def extra_checks(facts: ExtraFacts) -> tuple[Check, ...]:
    return (
        _device(
            facts.vhost_net,
            "dev/vhost-net",
            "vhost_net",
            "vhost-net",
            "modprobe vhost_net (guest networking works without it, but slower)",
        ),
        _device(facts.tun, "dev/net/tun", "tun", "TUN/TAP", "modprobe tun (needed for tap NICs)"),
        cgroup_check(facts.cgroups),
        iommu_check(facts),
        hugepages_check(facts.hugepages),
        usb_check(facts),
        udev_check(facts),
    )


__all__ = ["CGROUP_NEEDED", "cgroup_check", "extra_checks"]
