"""The USB doctor's findings (pure): one test per reason an attach may fail, and the fix."""

from __future__ import annotations

from dataclasses import replace

from tui.core.usb.doctor import bus_speed, device_speed, node_path, usb_findings
from tui.model.display import Finding, Level
from tui.model.domain import UsbHostdev
from tui.model.usb import UsbDevice, UsbOwner, UsbOwners
from tui.model.usb_doctor import (
    DEMO,
    LOCAL,
    REMOTE,
    DeviceNode,
    GuestUsbFacts,
    HostProbe,
    QemuUser,
    SecurityLog,
)

STICK = UsbDevice(
    "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1", "2-1", 2, 4, 0x0781, 0x5581,
    "SanDisk Corp.", "Ultra", speed="5000",
)  # fmt: skip
MOUSE = UsbDevice("/sys/x/usb1/1-3", "1-3", 1, 7, 0x046D, 0xC077, "Logitech", "Mouse", speed="12")
HUB2 = UsbDevice("/sys/x/usb1", "usb1", 1, 1, 0x1D6B, 0x0002, "Linux Foundation", "2.0 root hub")
HUB3 = UsbDevice("/sys/x/usb2", "usb2", 2, 1, 0x1D6B, 0x0003, "Linux Foundation", "3.0 root hub")
XHCI = GuestUsbFacts("win11", True, ("qemu-xhci",))
EHCI = GuestUsbFacts("oldie", True, ("ich9-ehci1", "ich9-uhci1"))
NONE = GuestUsbFacts("nousb", False, ("none",))
QEMU = QemuUser("libvirt-qemu", "", "/etc/libvirt/qemu.conf", 64055, (64055, 107), True)
ROOT_NODE = DeviceNode("/dev/bus/usb/002/004", True, 0, 0, 0o664, "root", "root")


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def local(node: DeviceNode = ROOT_NODE, qemu: QemuUser = QEMU, kernel: SecurityLog | None = None):  # type: ignore[no-untyped-def]
    return HostProbe(LOCAL, node, qemu, kernel or SecurityLog(True, mac=("AppArmor",)))


def test_root_hub_cannot_be_passed_and_nothing_else_is_said() -> None:
    findings = usb_findings(HUB3, present=[HUB3], guests=[XHCI], probe=local())
    assert [f.name for f in findings] == ["Root hub"]
    assert findings[0].status is Level.FAIL
    assert "cannot be passed" in findings[0].detail and "vfio-pci" in findings[0].fix


def test_held_live_by_another_guest() -> None:
    owners = UsbOwners(entries=[UsbOwner("db", "", UsbHostdev(0x0781, 0x5581, 2, 4), True, False)])
    f = by_name(usb_findings(STICK, owners=owners))["Held by"]
    assert f.status is Level.WARN and "'db'" in f.detail and "d detaches" in f.fix
    saved = UsbOwners(
        entries=[UsbOwner("db", "", UsbHostdev(0x0781, 0x5581, None, None), False, True)]
    )
    f = by_name(usb_findings(STICK, owners=saved))["Held by"]
    assert f.status is Level.INFO and "saved config of 'db'" in f.detail
    assert by_name(usb_findings(STICK))["Held by"].status is Level.OK


def test_usb3_device_and_a_guest_without_xhci() -> None:
    # The rule's guest has only EHCI/UHCI: that attach will not work at SuperSpeed.
    f = by_name(usb_findings(STICK, guests=[XHCI, EHCI], targets=["oldie"]))["USB 3 controller"]
    assert f.status is Level.FAIL and "'oldie'" in f.detail and "'win11'" not in f.detail
    assert "speed mismatch" in f.detail
    assert f.fix.startswith("virt-xml --add-device --controller usb,model=qemu-xhci oldie")
    # No rule: every guest counts, and only a warning.
    f = by_name(usb_findings(STICK, guests=[XHCI, EHCI]))["USB 3 controller"]
    assert f.status is Level.WARN and "'oldie'" in f.detail
    f = by_name(usb_findings(STICK, guests=[XHCI], targets=["win11"]))["USB 3 controller"]
    assert f.status is Level.OK and "xhci in the rule's guest 'win11'" in f.detail
    f = by_name(usb_findings(STICK))["USB 3 controller"]
    assert f.status is Level.INFO and "no guests to check" in f.detail


def test_speed_from_sysfs_or_from_the_bus_root_hub() -> None:
    remote = replace(STICK, speed="", source="libvirt")  # node devices carry no speed
    assert device_speed(STICK, []) == (5000.0, "sysfs")
    assert bus_speed(remote, [HUB2, HUB3]) == 5000
    assert device_speed(remote, [HUB2, HUB3]) == (5000.0, "bus 2's root hub")
    assert device_speed(remote, [HUB2]) == (None, "")
    f = by_name(usb_findings(remote, present=[HUB2, HUB3], guests=[EHCI]))["USB 3 controller"]
    assert f.status is Level.WARN and "bus 2's root hub" in f.detail
    # Unknown speed: a caution about the guests without xhci, not a failure.
    f = by_name(usb_findings(remote, guests=[EHCI]))["USB controller"]
    assert f.status is Level.INFO and "speed unknown" in f.detail and "'oldie'" in f.detail


def test_usb2_device_is_fine_on_any_controller_but_not_on_none() -> None:
    f = by_name(usb_findings(MOUSE, guests=[EHCI, XHCI]))["USB controller"]
    assert f.status is Level.OK and "USB 1 device (12 Mbit/s" in f.detail
    f = by_name(usb_findings(MOUSE, guests=[NONE], targets=["nousb"]))["USB controller"]
    assert f.status is Level.FAIL and "model='none'" in f.detail and "qemu-xhci nousb" in f.fix


def test_guest_xml_not_read_yet_is_not_a_finding_against_it() -> None:
    unread = GuestUsbFacts("fresh", True, None)
    f = by_name(usb_findings(STICK, guests=[unread, XHCI]))["USB 3 controller"]
    assert f.status is Level.OK and f.detail.endswith("xhci in 'win11' (XML not read yet: 'fresh')")
    f = by_name(usb_findings(MOUSE, guests=[unread]))["USB controller"]
    assert f.status is Level.INFO and "guests' XML not read yet: 'fresh'" in f.detail
    f = by_name(usb_findings(MOUSE, guests=[XHCI, EHCI]))["USB controller"]
    assert f.detail.endswith("a USB controller in every guest")


def test_node_permissions_against_the_qemu_user() -> None:
    def node(finding_probe: HostProbe) -> Finding:
        return by_name(usb_findings(STICK, probe=finding_probe))["Device node"]

    # root:root 0664 and an unprivileged QEMU user: libvirt relabels at attach (default).
    f = node(local())
    assert f.status is Level.OK and "dynamic_ownership" in f.detail
    assert "/dev/bus/usb/002/004 root:root 0664" in f.detail
    # ... unless dynamic_ownership = 0: then the attach fails, with a udev rule as the fix.
    f = node(local(qemu=replace(QEMU, dynamic_ownership=False, group="kvm")))
    assert f.status is Level.FAIL and "Permission denied" in f.detail
    assert 'ATTR{idVendor}=="0781", ATTR{idProduct}=="5581", GROUP="kvm", MODE="0660"' in f.fix
    # Group kvm with rw: fine without relabelling.
    kvm_node = replace(ROOT_NODE, gid=107, group="kvm", mode=0o660)
    f = node(local(node=kvm_node, qemu=replace(QEMU, dynamic_ownership=False)))
    assert f.status is Level.OK and "it can open it" in f.detail
    # QEMU as root: fine whatever the mode.
    f = node(local(node=replace(ROOT_NODE, mode=0o600), qemu=QemuUser("root", uid=0)))
    assert f.status is Level.OK and "root opens it" in f.detail
    f = node(local(node=replace(ROOT_NODE, mode=0o600), qemu=QemuUser("+0", uid=None)))
    assert f.status is Level.OK
    # A user that does not exist, a node that does not.
    assert node(local(qemu=QemuUser("qemu", uid=None))).status is Level.WARN
    gone = node(local(node=DeviceNode("/dev/bus/usb/002/004", False)))
    assert gone.status is Level.WARN and "does not exist" in gone.detail


APPARMOR = (
    '[ 812.1] audit: type=1400 audit(1700000000.1:77): apparmor="DENIED" operation="open" '
    'profile="libvirt-6b1c0a3e-0d7e-4c1a-9e1b-000000000000" name="/dev/bus/usb/002/004" '
    'pid=4242 comm="qemu-system-x86" requested_mask="wr" denied_mask="wr" fsuid=64055 ouid=0'
)
APPARMOR_SYSFS = (
    '[ 812.2] audit: type=1400 apparmor="DENIED" operation="open" profile="libvirt-x" '
    'name="/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/bConfigurationValue" comm="qemu"'
)
SELINUX = (
    "[ 90.5] audit: type=1400 audit(1700000000.5:12): avc:  denied  { read write } for  "
    'pid=5150 comm="qemu-kvm" name="004" dev="devtmpfs" ino=4242 '
    "scontext=system_u:system_r:svirt_t:s0:c1,c2 "
    "tcontext=system_u:object_r:usb_device_t:s0 tclass=chr_file permissive=0"
)
OTHER = APPARMOR.replace("/dev/bus/usb/002/004", "/dev/bus/usb/002/003")


def mac(lines: tuple[str, ...], *, modules: tuple[str, ...] = ("AppArmor",)) -> Finding:
    probe = local(kernel=SecurityLog(True, denials=lines, mac=modules))
    return by_name(usb_findings(STICK, probe=probe))["AppArmor/SELinux"]


def test_apparmor_denials_of_this_device() -> None:
    f = mac((OTHER, APPARMOR, APPARMOR_SYSFS))
    assert f.status is Level.FAIL and f.detail.startswith("2 denial(s) for this device")
    assert 'name="/dev/bus/usb/002/004"' in f.detail and "AppArmor" in f.fix
    assert "/dev/bus/usb/002/003" not in f.detail


def test_selinux_denial_named_by_basename() -> None:
    f = mac((SELINUX,), modules=("SELinux (enforcing)",))
    assert f.status is Level.FAIL and "virt_use_usb" in f.fix
    mouse = by_name(usb_findings(MOUSE, probe=local(kernel=SecurityLog(True, denials=(SELINUX,)))))[
        "AppArmor/SELinux"
    ]
    assert mouse.status is Level.OK  # device 007, not 004


def test_no_denial_and_others_counted() -> None:
    f = mac((OTHER,))
    assert f.status is Level.OK and "no denial for /dev/bus/usb/002/004" in f.detail
    assert "1 denial(s) for other /dev/bus/usb nodes" in f.detail
    assert "audit log" not in f.detail  # only said when SELinux is on
    assert "audit log" in mac((), modules=("SELinux (permissive)",)).detail


def test_unreadable_kernel_log_is_said_never_claimed_clean() -> None:
    probe = local(
        kernel=SecurityLog(False, "dmesg: read kernel buffer failed: Operation not permitted")
    )
    f = by_name(usb_findings(STICK, probe=probe))["AppArmor/SELinux"]
    assert f.status is Level.INFO
    assert "cannot read the kernel log" in f.detail and "Operation not permitted" in f.detail
    assert "no denial" not in f.detail and "dmesg" in f.fix


def test_remote_and_demo_hosts_are_not_probed_here() -> None:
    remote = by_name(usb_findings(STICK, probe=HostProbe(REMOTE)))
    assert "Device node" not in remote and remote["Host checks"].status is Level.INFO
    assert "remote host" in remote["Host checks"].detail
    demo = by_name(usb_findings(STICK, probe=HostProbe(DEMO)))
    assert "simulated" in demo["Host checks"].detail
    failed = by_name(usb_findings(STICK, probe=HostProbe(LOCAL, error="the probes failed: boom")))
    assert failed["Device node"].detail == "the probes failed: boom"


def test_node_path_is_zero_padded() -> None:
    assert node_path(MOUSE) == "/dev/bus/usb/001/007"
