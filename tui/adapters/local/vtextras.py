"""The rest of what virt-host-validate looks at, read: vhost-net, TUN, cgroups, IOMMU, huge
pages; USB and udev from :func:`tui.adapters.local.udev.usb_host_status`, the reader the USB
screen uses too. Judged in :mod:`tui.core.vt.extras`."""

from __future__ import annotations

from pathlib import Path

from tui.adapters.local.rootfs import at, list_dir, read_text, read_word
from tui.adapters.local.udev import usb_host_status
from tui.model.vtfacts import ExtraFacts

CGROUP_KNOWN = ("cpu", "cpuacct", "cpuset", "memory", "devices", "blkio", "freezer", "pids")


def cgroup_controllers(root: Path) -> tuple[frozenset[str], frozenset[str] | None] | None:
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
            v1.update(o for o in options if o in CGROUP_KNOWN)
        elif fstype == "cgroup2":
            ctl = read_word(root, f"{mountpoint}/cgroup.controllers") or ""
            v2 = (v2 or set()) | set(ctl.split())
    return frozenset(v1), (frozenset(v2) if v2 is not None else None)


def _kib(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits or 0)


def read_extras(root: Path) -> ExtraFacts:
    names = list_dir(root, "sys/kernel/mm/hugepages") or []
    sizes = sorted((d for d in names if d.startswith("hugepages-")), key=_kib)
    hugepages = tuple(
        (d, read_word(root, f"sys/kernel/mm/hugepages/{d}/nr_hugepages") or "?") for d in sizes
    )
    usb = usb_host_status(root)
    return ExtraFacts(
        vhost_net=at(root, "dev/vhost-net").exists(),
        tun=at(root, "dev/net/tun").exists(),
        cgroups=cgroup_controllers(root),
        acpi_tables=frozenset(list_dir(root, "sys/firmware/acpi/tables") or []),
        iommu_groups=len(list_dir(root, "sys/kernel/iommu_groups") or []),
        cmdline=tuple((read_text(root, "proc/cmdline") or "").split()),
        hugepages=hugepages,
        usb=usb,
        usb_devices=len(list_dir(root, "sys/bus/usb/devices") or []) if usb.bus else 0,
    )


__all__ = ["cgroup_controllers", "read_extras"]
