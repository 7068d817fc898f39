"""The USB doctor: why attaching one USB device to a guest may fail, each finding with its fix.

:func:`usb_findings` is pure (no I/O, no textual): it reads the device, the other devices
present (a bus's root hub tells a SuperSpeed bus), the owners view, the guests' USB
controllers and what the probes found on the host (:class:`tui.model.usb_doctor.HostProbe`:
the device node's owner and mode, the QEMU user, AppArmor/SELinux denials in the kernel log).
One :class:`~tui.model.display.Finding` per fact, in the display doctor's shape. Every string
a device or a guest supplies stays plain text for the screen to show as such.

The same doctor without a device is :mod:`tui.core.usb.host_doctor`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tui.model.display import Finding, Level
from tui.model.usb import UsbDevice, UsbOwners
from tui.model.usb_doctor import DEMO, REMOTE, GuestUsbFacts, HostProbe, QemuUser, SecurityLog
from tui.util import shell_command

__all__ = [
    "Finding",
    "Level",
    "bus_speed",
    "device_speed",
    "node_path",
    "usb_findings",
]

XHCI = ("qemu-xhci", "nec-xhci")
SUPER = 5000  # Mbit/s: SuperSpeed (USB 3) and faster
ROOT_HUB_SPEED = {0x0001: 12, 0x0002: 480, 0x0003: 5000}  # 1d6b:000N root hubs


def add_xhci(guest: str) -> str:
    """The command that gives ``guest`` an xhci controller (quoted: a name is not code)."""
    return (
        shell_command("virt-xml", "--add-device", "--controller", "usb,model=qemu-xhci", name=guest)
        + " (from its next start)"
    )


SHOWN_GUESTS = 4
SHOWN_DENIALS = 2


def node_path(dev: UsbDevice) -> str:
    return f"/dev/bus/usb/{dev.busnum:03d}/{dev.devnum:03d}"


def _mbits(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def bus_speed(dev: UsbDevice, present: Iterable[UsbDevice]) -> int | None:
    """The fastest speed of the device's bus (Mbit/s), from that bus's root hub (1d6b:0003 is
    a USB 3 root hub: every device on its bus is SuperSpeed); None when it is not listed."""
    for other in present:
        if other.is_root_hub and other.busnum == dev.busnum:
            return ROOT_HUB_SPEED.get(other.product_id)
    return None


def device_speed(dev: UsbDevice, present: Iterable[UsbDevice]) -> tuple[float | None, str]:
    """(Mbit/s or None, where it comes from): sysfs ``speed`` when the feed has it (udev),
    else the bus's root hub (libvirt node devices carry no speed)."""
    speed = _mbits(dev.speed) if dev.speed else None
    if speed is not None:
        return speed, "sysfs"
    bus = bus_speed(dev, present)
    return (float(bus), f"bus {dev.busnum}'s root hub") if bus is not None else (None, "")


def quoted_names(names: Sequence[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:SHOWN_GUESTS])
    more = len(names) - SHOWN_GUESTS
    return f"{shown} and {more} more" if more > 0 else shown


def _root_hub(dev: UsbDevice) -> Finding:
    return Finding(
        "Root hub",
        Level.FAIL,
        f"{dev.label} ({dev.ids}) is bus {dev.busnum}'s root hub: the host controller's own "
        "hub cannot be passed to a guest",
        "pick a device plugged into it (r hides root hubs), or pass the whole USB controller "
        "as a PCI device (vfio-pci; needs an IOMMU)",
    )


def _owners(dev: UsbDevice, owners: UsbOwners) -> Finding:
    held = owners.owners_of(dev)
    live = sorted({o.guest for o in held if o.live})
    saved = sorted({o.guest for o in held if o.config and not o.live})
    if live:
        return Finding(
            "Held by",
            Level.WARN,
            f"attached live to {quoted_names(live)}: another guest cannot have it until it is "
            "detached there (libvirt: 'device is in use')",
            "d detaches it; a with another guest offers to move it",
        )
    if saved:
        return Finding(
            "Held by",
            Level.INFO,
            f"in the saved config of {quoted_names(saved)}: whichever guest starts first takes it",
            "d after that guest starts, or remove it from its config (virsh edit)",
        )
    if owners.errors:
        return Finding("Held by", Level.INFO, f"owners not fully read: {owners.errors[0]}")
    return Finding("Held by", Level.OK, "no guest holds it")


def _controllers(
    dev: UsbDevice,
    present: Sequence[UsbDevice],
    guests: Sequence[GuestUsbFacts],
    targets: Sequence[str],
) -> Finding:
    """A USB 3 device needs an xhci controller; any device needs some USB controller."""
    speed, source = device_speed(dev, present)
    wanted = [g for g in guests if g.name in targets] if targets else list(guests)
    rule = "the rule's guest" if len(targets) == 1 else "the rules' guests"
    whom = f"{rule} {quoted_names(list(targets))}" if targets else "every guest"
    known = [g for g in wanted if g.controllers is not None]
    unread = [g.name for g in wanted if g.controllers is None]
    no_usb = [g.name for g in known if not [m for m in (g.controllers or ()) if m != "none"]]
    no_xhci = [g.name for g in known if not any(m in XHCI for m in g.controllers or ())]

    def fine(name: str, what: str, has: str) -> Finding:
        if not wanted:
            return Finding(name, Level.INFO, f"{what}; no guests to check")
        if not known:
            return Finding(
                name, Level.INFO, f"{what}; guests' XML not read yet: {quoted_names(unread)}"
            )
        if unread:
            shown = quoted_names([g.name for g in known])
            return Finding(
                name,
                Level.OK,
                f"{what}; {has} in {shown} (XML not read yet: {quoted_names(unread)})",
            )
        return Finding(name, Level.OK, f"{what}; {has} in {whom}")

    if speed is not None and speed >= SUPER:
        what = f"USB 3 (SuperSpeed, {speed:g} Mbit/s from {source})"
        if no_xhci:
            return Finding(
                "USB 3 controller",
                Level.WARN if not targets else Level.FAIL,
                f"{what}; no xhci controller in {quoted_names(no_xhci)}: QEMU refuses it there "
                "('speed mismatch') or it runs at USB 2 speed at best",
                add_xhci(no_xhci[0]) + ", or S in the guest's detail",
            )
        return fine("USB 3 controller", what, "xhci")
    what = (
        f"USB {'2' if speed >= 480 else '1'} device ({speed:g} Mbit/s from {source})"
        if speed is not None
        else f"speed unknown (none from the feed, and bus {dev.busnum}'s root hub is not listed)"
    )
    if no_usb:
        return Finding(
            "USB controller",
            Level.FAIL if targets else Level.WARN,
            f"{what}; no USB controller in {quoted_names(no_usb)} (model='none'): nothing can be "
            "attached there",
            add_xhci(no_usb[0]),
        )
    if speed is None and no_xhci:
        return Finding(
            "USB controller",
            Level.INFO,
            f"{what}; if it is a USB 3 device, {quoted_names(no_xhci)} need an xhci controller",
            add_xhci(no_xhci[0]),
        )
    return fine("USB controller", what, "a USB controller")


def _can_open(node_uid: int, node_gid: int, mode: int, qemu: QemuUser) -> bool:
    if qemu.is_root:
        return True
    if qemu.uid is not None and qemu.uid == node_uid:
        return mode & 0o600 == 0o600
    if node_gid in qemu.gids:
        return mode & 0o060 == 0o060
    return mode & 0o006 == 0o006


def _node(dev: UsbDevice, probe: HostProbe) -> Finding:
    node, qemu = probe.node, probe.qemu
    if node is None or qemu is None:
        return Finding("Device node", Level.INFO, probe.error or "not checked")
    if not node.exists:
        return Finding(
            "Device node",
            Level.WARN,
            f"{node.path} does not exist: the device left, or /dev has no devtmpfs",
            "replug the device; check that /dev is a devtmpfs (mount | grep ' /dev ')",
        )
    if node.error:
        return Finding("Device node", Level.INFO, f"{node.path}: {node.error}")
    who = f"QEMU runs as '{qemu.user}'" + (f" ({qemu.source})" if qemu.source else "")
    if qemu.error:
        who += f"; {qemu.error}"
    if qemu.is_root:
        return Finding("Device node", Level.OK, f"{node.shown}; {who}: root opens it")
    if qemu.uid is None:
        return Finding(
            "Device node",
            Level.WARN,
            f"{node.shown}; {who}, a user not in /etc/passwd",
            "set user = in /etc/libvirt/qemu.conf to the QEMU user, restart libvirtd",
        )
    if _can_open(node.uid, node.gid, node.mode, qemu):
        return Finding("Device node", Level.OK, f"{node.shown}; {who}: it can open it")
    if qemu.dynamic_ownership:
        return Finding(
            "Device node",
            Level.OK,
            f"{node.shown}; {who}: libvirt hands the node over at attach (dynamic_ownership)",
        )
    group = qemu.group or "kvm"
    return Finding(
        "Device node",
        Level.FAIL,
        f"{node.shown}; {who} cannot open it and libvirt does not relabel it "
        "(dynamic_ownership = 0): the attach fails with 'Permission denied'",
        f'a udev rule: SUBSYSTEM=="usb", ATTR{{idVendor}}=="{dev.vendor_id:04x}", '
        f'ATTR{{idProduct}}=="{dev.product_id:04x}", GROUP="{group}", MODE="0660" in '
        "/etc/udev/rules.d/60-kvmdeck-usb.rules, then replug; or dynamic_ownership = 1 in "
        "qemu.conf",
    )


def _mentions(line: str, dev: UsbDevice, path: str) -> bool:
    if path in line:
        return True
    if dev.port and re.search(rf"/{re.escape(dev.port)}[/\"' ]", line):
        return True  # sysfs: …/usb1/1-2/… or …/1-2"
    # SELinux names only the node's basename: name="004" … tclass=chr_file, usb_device_t
    return "usb_device_t" in line and f'name="{dev.devnum:03d}"' in line


def _kernel(dev: UsbDevice, log: SecurityLog | None) -> Finding:
    name = "AppArmor/SELinux"
    if log is None:
        return Finding(name, Level.INFO, "not checked")
    mac = ", ".join(log.mac) or "no AppArmor or SELinux active"
    if not log.readable:
        return Finding(
            name,
            Level.INFO,
            f"{mac}; cannot read the kernel log ({log.error}): denials not checked",
            "as root: dmesg | grep -E 'apparmor=\"DENIED\"|avc: +denied' | grep usb",
        )
    path = node_path(dev)
    mine = [line for line in log.denials if _mentions(line, dev, path)]
    if not mine:
        other = sum(1 for line in log.denials if "/dev/bus/usb/" in line)
        extra = (
            f"; {other} denial(s) for other /dev/bus/usb nodes (an earlier plug?)" if other else ""
        )
        audit = "; with auditd running SELinux denials are in the audit log (ausearch -m avc)"
        detail = f"{mac}; no denial for {path} in the kernel log{extra}"
        selinux_on = any(m.startswith("SELinux") for m in log.mac)
        return Finding(name, Level.OK, detail + (audit if selinux_on else ""))
    selinux = any("avc:" in line for line in mine)
    shown = "\n".join(line.strip() for line in mine[-SHOWN_DENIALS:])
    fix = (
        "SELinux: setsebool -P virt_use_usb 1; ausearch -m avc -ts recent shows the rest"
        if selinux
        else "AppArmor: libvirt adds the node to the guest's profile at attach "
        "(/etc/apparmor.d/libvirt/libvirt-<uuid>.files); restart libvirtd after an upgrade, "
        "and check local overrides in /etc/apparmor.d/local/abstractions/libvirt-qemu"
    )
    return Finding(name, Level.FAIL, f"{len(mine)} denial(s) for this device:\n{shown}", fix)


def host_checks(dev: UsbDevice, probe: HostProbe | None) -> list[Finding]:
    if probe is None:
        return [Finding("Host checks", Level.INFO, "not run")]
    if probe.where == REMOTE:
        return [
            Finding(
                "Host checks",
                Level.INFO,
                "a remote host: device node permissions and the kernel log are not read from here",
                "run kvmdeck on that host for them (kvmdeck doctor, or this screen there)",
            )
        ]
    if probe.where == DEMO:
        return [Finding("Host checks", Level.INFO, "the demo's devices are simulated: no files")]
    return [_node(dev, probe), _kernel(dev, probe.kernel)]


def usb_findings(
    dev: UsbDevice,
    *,
    present: Sequence[UsbDevice] = (),
    owners: UsbOwners | None = None,
    guests: Sequence[GuestUsbFacts] = (),
    targets: Sequence[str] = (),
    probe: HostProbe | None = None,
) -> list[Finding]:
    """Why attaching ``dev`` may fail. ``targets``: the guests its rules name (the xhci check
    looks at them, else at every guest). A root hub gets that finding alone."""
    if dev.is_root_hub:
        return [_root_hub(dev)]
    found = [
        _owners(dev, owners or UsbOwners()),
        _controllers(dev, present, guests, targets),
    ]
    return found + host_checks(dev, probe)
