"""kvmdeck inside L1, driven from its keys in tmux, checked against the truth in L1.

Each test starts kvmdeck (installed from this checkout's wheel) in tmux inside L1, plugs real
(QEMU-emulated) USB devices into L1's xhci through QMP, types keys, reads the screen, and checks
what L1 says: sysfs and lsusb, libvirt's live XML of L2, QEMU's ``info usb`` of L2.
"""

from __future__ import annotations

import contextlib
import re

import pytest

from lab.labctl import Lab, LabError, wait_for
from tests.lab import ui

STICK_IDS = "46f4:0001"  # QEMU usb-storage
TWIN_IDS = "0627:0001"  # usb-kbd and usb-tablet: the same ids


def _hostdev_at(lab: Lab, bus: int, device: int) -> bool:
    return any(h.bus == bus and h.device == device for h in lab.hostdevs("L2"))


def _l2_info_usb_has(lab: Lab, text: str) -> str | None:
    out = lab.guest_info_usb("L2")
    return out if text in out else None


def _uevent_groups(lab: Lab) -> set[str]:
    """Netlink multicast groups of kvmdeck's NETLINK_KOBJECT_UEVENT sockets in L1 (1: the
    kernel's raw uevents, 2: udev's processed events)."""
    out = lab.ssh(
        "pid=$(pgrep -f '^/opt/kvmdeck/bin/python.*kvmdeck' | head -1); [ -n \"$pid\" ] || exit 3;"
        " for fd in /proc/$pid/fd/*; do readlink $fd; done | sed -n 's/^socket:\\[\\([0-9]*\\)\\]$/\\1/p'"
        " > /tmp/inodes; awk 'NR>1 && $2==15 {print $4, $NF}' /proc/net/netlink |"
        ' while read g ino; do grep -qx "$ino" /tmp/inodes && echo $g; done; true'
    )
    return {line.strip() for line in out.split() if line.strip()}


def test_plugged_stick_on_usb_screen_with_hwdb_names(usb_screen: Lab) -> None:
    lab = usb_screen
    assert "no udev daemon" not in lab.screen()
    stick = lab.plug_storage("stick1")
    tablet = lab.plug("tab1", "usb-tablet")
    assert stick is not None and tablet is not None
    assert stick.ids == STICK_IDS and tablet.ids == TWIN_IDS

    row = ui.wait_row(lab, stick, "QEMU", ui.fmt_speed(stick.speed))
    assert stick.port.startswith("2-")  # usb-storage sits on the USB3 bus
    # the tablet's own strings say "QEMU"; "Adomax Technology" comes only from udev's hwdb
    trow = ui.wait_row(lab, tablet, "Adomax", ui.fmt_speed(tablet.speed))
    assert "Adomax" in lab.ssh(
        f"udevadm info -q property /dev/bus/usb/{tablet.address.replace(':', '/')}"
    )
    lsusb = lab.lsusb()
    assert f"Bus {stick.address.replace(':', ' Device ')}: ID {STICK_IDS}" in lsusb
    assert f"Bus {tablet.address.replace(':', ' Device ')}: ID {TWIN_IDS}" in lsusb
    # udev's own events: the add lines in kvmdeck's event log carry hwdb names, which only
    # udevd adds, and the monitor's socket is on udev's netlink group (2), not the kernel's (1)
    screen = lab.wait_screen(rf"add\s+{tablet.address} {TWIN_IDS} Adomax", timeout=15)
    assert re.search(rf"bind\s+{stick.address} {STICK_IDS} .*driver=", screen) or "bind" in screen
    assert _uevent_groups(lab) == {"00000002"}
    assert row.port == stick.port and trow.port == tablet.port


def test_attach_from_keys_reaches_l2(usb_screen: Lab) -> None:
    lab = usb_screen
    stick = lab.plug_storage("stick2")
    assert stick is not None and stick.driver == "usb-storage"
    ui.wait_row(lab, stick)
    ui.attach_from_keys(lab, stick, "L2")

    wait_for(lambda: _hostdev_at(lab, stick.busnum, stick.devnum), 60, "hostdev in L2's live XML")
    [hd] = [h for h in lab.hostdevs("L2") if h.bus == stick.busnum]
    assert (hd.vendor, hd.product) == tuple(STICK_IDS.split(":"))
    out = wait_for(lambda: _l2_info_usb_has(lab, hd.alias), 30, f"{hd.alias} in L2's info usb")
    assert "QEMU USB HARDDRIVE" in out or "5000 Mb/s" in out, out
    # QEMU's usb-host in L2 claimed it: L1's usb-storage driver let go of the interface
    wait_for(lambda: lab.find_device(stick.serial).driver == "", 30, "L1 to unbind usb-storage")
    ui.wait_row(lab, stick, "L2")  # the Owner column


def test_detach_from_keys_rebinds_l1_driver(usb_screen: Lab) -> None:
    lab = usb_screen
    stick = lab.plug_storage("stick3")
    assert stick is not None
    ui.wait_row(lab, stick)
    ui.attach_from_keys(lab, stick, "L2")
    wait_for(lambda: _hostdev_at(lab, stick.busnum, stick.devnum), 60, "hostdev in L2's live XML")
    ui.wait_row(lab, stick, "L2")

    ui.detach_from_keys(lab, stick)
    wait_for(lambda: not lab.hostdevs("L2"), 60, "no hostdev left in L2's live XML")
    wait_for(lambda: "hostdev" not in lab.guest_info_usb("L2"), 30, "L2's info usb without it")
    again = lab.wait_device(stick.serial, timeout=30, driver="usb-storage")
    assert again.address == stick.address  # same device, driver re-bound in L1
    ui.wait_row(lab, stick, absent=("L2",))  # the Owner column follows the detach


def test_twins_attached_by_address(usb_screen: Lab) -> None:
    lab = usb_screen
    kbd = lab.plug("kbd6", "usb-kbd")
    tab = lab.plug("tab6", "usb-tablet")
    assert kbd is not None and tab is not None
    assert kbd.ids == tab.ids == TWIN_IDS
    # libvirt itself refuses the twins by ids alone:
    lab.write_file(
        "/tmp/twin.xml",
        "<hostdev mode='subsystem' type='usb' managed='yes'><source>"
        "<vendor id='0x0627'/><product id='0x0001'/></source></hostdev>",
    )
    refused = lab.ssh_run("virsh attach-device L2 /tmp/twin.xml --live")
    assert refused.returncode != 0 and "Multiple USB devices" in refused.stderr, refused
    ui.wait_row(lab, kbd)
    ui.wait_row(lab, tab)
    ui.attach_from_keys(lab, tab, "L2")
    wait_for(lambda: _hostdev_at(lab, tab.busnum, tab.devnum), 60, "the tablet in L2's live XML")
    assert [(h.bus, h.device) for h in lab.hostdevs("L2")] == [(tab.busnum, tab.devnum)]
    wait_for(lambda: _l2_info_usb_has(lab, "QEMU USB Tablet"), 30, "the tablet in L2's info usb")
    assert "QEMU USB Keyboard" not in lab.guest_info_usb("L2")
    ui.wait_row(lab, tab, "L2")
    kbd_row = ui.wait_row(lab, kbd)
    assert "L2" not in kbd_row.text.split(kbd.serial, 1)[1]  # never attached: no race here
    assert lab.find_device(kbd.serial).driver == "usbhid"  # the keyboard stayed in L1


@pytest.mark.lab_headless  # stops the TUI: runs after the TUI's tests
def test_rules_run_attaches_replugged_device(clean: Lab) -> None:
    lab = clean
    lab.kvmdeck_stop()  # the TUI would hold the rules lock; this is the headless engine alone
    stick = lab.plug_storage("stick7")
    assert stick is not None
    lab.unplug("stick7")
    lab.write_file(
        "/root/.config/kvmdeck/rules.toml",
        "version = 1\n\n[[rule]]\n"
        f'vendor = "0x46f4"\nproduct = "0x0001"\nserial = "{stick.serial}"\nguest = "L2"\n',
    )
    listed = lab.ssh("/opt/kvmdeck/bin/kvmdeck rules --list -c qemu:///system")
    assert "46f4:0001" in listed and "L2" in listed, listed
    lab.kvmdeck_start("rules --run -c qemu:///system", session="rules")
    try:
        lab.wait_screen(r"rule\(s\), \d+ USB device\(s\)", timeout=90, session="rules")
        # bound=False: the rule hands the stick to L2 as soon as udev adds it, and L1's
        # usb-storage lets go then; waiting for its driver raced with that (the old flake)
        again = lab.plug_storage("stick7", bound=False)
        assert again is not None and again.serial == stick.serial
        wait_for(
            lambda: _hostdev_at(lab, again.busnum, again.devnum),
            60,
            f"the rule's attach of {again.address} in L2's live XML",
            last=lambda: lab.screen("rules"),
        )
        wait_for(lambda: _l2_info_usb_has(lab, "QEMU USB HARDDRIVE"), 30, "L2's info usb")
    finally:
        with contextlib.suppress(LabError):
            lab.kvmdeck_stop("rules", key="C-c")


# QEMU's own choice of port (Lab.QEMU_PICKS): when one root port is left, QEMU inserts a
# full-speed usb-hub there and the device goes behind it. The hub stays for the rest of the
# boot; every other test plugs into a free root port of its own (Lab.plug), so the order of the
# tests does not matter (a usb-storage behind that hub never shows up in L1).
HUB_KINDS = ("usb-kbd", "usb-tablet", "usb-mouse", "serial")


def test_device_behind_auto_inserted_hub(usb_screen: Lab) -> None:
    lab = usb_screen
    ids: list[str] = []
    for n in range(lab.root_ports()):  # one more than the free ports QEMU has: the hub comes
        kind = HUB_KINDS[n % len(HUB_KINDS)]
        dev_id = f"hub{n}"
        if kind == "serial":
            lab.plug_serial(dev_id, wait=False, port=lab.QEMU_PICKS)
        else:
            lab.plug(dev_id, kind, wait=False, port=lab.QEMU_PICKS)
        ids.append(dev_id)
        if "." in (lab.qemu_port(dev_id) or ""):
            break
    devs = [lab.wait_device(i.upper(), timeout=90) for i in ids]
    behind = [d for d in devs if "." in d.port]
    assert behind, f"no device behind a hub: {[d.port for d in devs]}\n{lab.info_usb()}"
    hub_port = behind[0].port.rsplit(".", 1)[0]
    hubs = [d for d in lab.usb_devices() if d.port == hub_port]
    assert hubs and hubs[0].ids == "0409:55aa", lab.lsusb()  # QEMU's NEC hub
    assert "Hub" in lab.lsusb()
    dev = behind[0]
    for d in devs:
        ui.wait_row(lab, d)
    ui.wait_row(lab, dev)  # e.g. 1-8.1: the port path names the hub
    ui.attach_from_keys(lab, dev, "L2")
    wait_for(lambda: _hostdev_at(lab, dev.busnum, dev.devnum), 60, "hostdev in L2's live XML")
    [hd] = lab.hostdevs("L2")
    wait_for(lambda: _l2_info_usb_has(lab, hd.alias), 30, f"{hd.alias} in L2's info usb")
    ui.wait_row(lab, dev, "L2")
