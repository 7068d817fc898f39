"""The USB doctor without a device: ``w`` with nothing selected (or on the rules list), and the
USB screen's banner when the host cannot show USB devices at all.

:func:`host_problems` judges :class:`tui.model.usb_doctor.UsbHostStatus` (no USB bus, no udev
daemon, USB unreadable), each with what to do; :func:`host_findings` adds what the probes found
(:class:`tui.model.usb_doctor.HostProbe` without a device: ``/dev/bus/usb``, the QEMU user, the
kernel log) and the guests' USB controllers. Pure: no I/O, no textual.
"""

from __future__ import annotations

from collections.abc import Sequence

from tui.core.usb.doctor import SHOWN_DENIALS, XHCI, add_xhci, host_checks, quoted_names
from tui.model.display import Finding, Level
from tui.model.usb import UsbDevice
from tui.model.usb_doctor import (
    DEMO,
    LOCAL,
    REMOTE,
    GuestUsbFacts,
    HostProbe,
    SecurityLog,
    UsbHostStatus,
)

__all__ = ["NO_BUS", "NO_BUS_FIX", "NO_UDEV", "host_findings", "host_problems"]

NO_BUS = (
    "This host has no USB bus (/sys/bus/usb/devices is missing): there is no USB device here "
    "to pass to a guest"
)
NO_BUS_FIX = (
    "if this host is itself a VM, give it a USB controller (e.g. qemu-xhci) and pass the "
    "devices to it; or run kvmdeck where the devices are plugged in"
)
NO_UDEV = "no udev daemon: names from sysfs, no bind events"
NO_UDEV_FIX = "start systemd-udevd for hwdb names and bind events (USB works without)"
UNREADABLE_FIX = "run kvmdeck as root or as a user who may read /sys/bus/usb and /dev/bus/usb"
REMOTE_FIX = (
    "check that the host's libvirtd lists node devices: virsh nodedev-list --cap usb_device"
)


def host_problems(host: UsbHostStatus | None) -> list[Finding]:
    """What keeps this host from showing USB devices, worst first (empty: nothing). The USB
    screen's banner and the first lines of the host report."""
    if host is None:
        return []
    found = []
    if host.error:
        fix = UNREADABLE_FIX if host.where == LOCAL else REMOTE_FIX
        found.append(Finding("Reading USB", Level.FAIL, f"cannot read USB: {host.error}", fix))
    if host.where != LOCAL:
        return found
    if host.bus is False:  # then udev does not matter: there is nothing for it to name
        found.append(Finding("USB bus", Level.FAIL, NO_BUS, NO_BUS_FIX))
    elif host.udev is False:
        found.append(Finding("udev", Level.WARN, NO_UDEV, NO_UDEV_FIX))
    return found


def _bus(host: UsbHostStatus | None, count: int) -> list[Finding]:
    devices = f"{count} USB device(s) listed"
    if host is None:
        return [Finding("USB bus", Level.INFO, f"not checked; {devices}")]
    if host.where == REMOTE:
        return [
            Finding(
                "USB bus",
                Level.OK if count else Level.INFO,
                f"the remote host's USB, from its libvirt node devices: {devices}",
            )
        ]
    if host.where == DEMO:
        return [Finding("USB bus", Level.INFO, f"the demo's simulated devices: {devices}")]
    problems = host_problems(host)
    names = {f.name for f in problems}
    found = list(problems)
    if "USB bus" not in names and host.bus:
        found.insert(0, Finding("USB bus", Level.OK, f"/sys/bus/usb/devices is there; {devices}"))
    if "udev" not in names and host.udev:
        found.append(Finding("udev", Level.OK, "a udev daemon runs (/run/udev)"))
    return found


def _permissions(probe: HostProbe) -> Finding:
    name = "Permissions"
    qemu, node = probe.qemu, probe.node
    if qemu is None:
        return Finding(name, Level.INFO, probe.error or "not checked")
    who = f"QEMU runs as '{qemu.user}'" + (f" ({qemu.source})" if qemu.source else "")
    if qemu.error:
        who += f"; {qemu.error}"
    nodes = ""
    if node is not None:
        nodes = f"; {node.shown}" if node.exists else f"; no {node.path}"
    if qemu.is_root:
        return Finding(name, Level.OK, f"{who}: root opens every device node{nodes}")
    if qemu.uid is None:
        return Finding(
            name,
            Level.WARN,
            f"{who}, a user not in /etc/passwd{nodes}",
            "set user = in /etc/libvirt/qemu.conf to the QEMU user, restart libvirtd",
        )
    if qemu.dynamic_ownership:
        return Finding(
            name,
            Level.OK,
            f"{who}: libvirt hands each device node over at attach (dynamic_ownership){nodes}",
        )
    return Finding(
        name,
        Level.WARN,
        f"{who} and libvirt does not relabel device nodes (dynamic_ownership = 0): an attach "
        f"fails with 'Permission denied' unless udev gives the node to QEMU's group{nodes}",
        f'a udev rule: SUBSYSTEM=="usb", GROUP="{qemu.group or "kvm"}", MODE="0660" in '
        "/etc/udev/rules.d/60-kvmdeck-usb.rules, or dynamic_ownership = 1 in qemu.conf",
    )


def _host_kernel(log: SecurityLog | None) -> Finding:
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
    usb = [line for line in log.denials if "/dev/bus/usb/" in line or "usb_device_t" in line]
    if not usb:
        return Finding(name, Level.OK, f"{mac}; no USB denial in the kernel log")
    shown = "\n".join(line.strip() for line in usb[-SHOWN_DENIALS:])
    return Finding(
        name,
        Level.WARN,
        f"{mac}; {len(usb)} denial(s) for USB device nodes (select the device and press w "
        f"for its own):\n{shown}",
        "SELinux: setsebool -P virt_use_usb 1; AppArmor: restart libvirtd after an upgrade",
    )


def _guest_controllers(guests: Sequence[GuestUsbFacts]) -> Finding:
    name = "Guests' USB controllers"
    if not guests:
        return Finding(name, Level.INFO, "no guests on this host")
    unread = [g.name for g in guests if g.controllers is None]
    known = [g for g in guests if g.controllers is not None]
    no_usb = [g.name for g in known if not [m for m in g.controllers or () if m != "none"]]
    xhci = [g.name for g in known if any(m in XHCI for m in g.controllers or ())]
    usb2 = [g.name for g in known if g.name not in no_usb and g.name not in xhci]
    parts = []
    if xhci:
        parts.append(f"xhci (USB 3) in {quoted_names(xhci)}")
    if usb2:
        parts.append(f"USB 1/2 only in {quoted_names(usb2)}")
    if no_usb:
        parts.append(f"none in {quoted_names(no_usb)} (model='none')")
    if unread:
        parts.append(f"XML not read yet: {quoted_names(unread)}")
    detail = "; ".join(parts)
    if no_usb:
        return Finding(name, Level.WARN, detail, add_xhci(no_usb[0]))
    if usb2:
        return Finding(
            name,
            Level.INFO,
            detail + ": USB 3 devices run slower there or are refused",
            add_xhci(usb2[0]),
        )
    return Finding(name, Level.OK if known else Level.INFO, detail)


def host_findings(
    host: UsbHostStatus | None,
    *,
    present: Sequence[UsbDevice] = (),
    guests: Sequence[GuestUsbFacts] = (),
    probe: HostProbe | None = None,
) -> list[Finding]:
    """The USB doctor without a device: can the host show USB, may QEMU open the nodes,
    AppArmor/SELinux, and the guests' USB controllers."""
    count = sum(1 for d in present if not d.is_root_hub)
    found = _bus(host, count)
    if probe is None:
        found.append(Finding("Host checks", Level.INFO, "not run"))
    elif probe.where in (REMOTE, DEMO):
        found += host_checks(_NO_DEVICE, probe)  # what cannot be read from here, and why
    else:
        found += [_permissions(probe), _host_kernel(probe.kernel)]
    found.append(_guest_controllers(guests))
    return found


_NO_DEVICE = UsbDevice("", "", 0, 0, 0, 0)
