"""SVG snapshots of the real screens (demo driver, injected fixed samples, frozen clock), at the
sizes operators have: 80x24 (the smallest terminal), 120x40 and 200x50.

Update on purpose with: .venv/bin/pytest tests/snapshots --snapshot-update
"""

from __future__ import annotations

import pytest

from tests.support import fixed
from tests.support.apps import fixed_app
from tui.adapters.libvirt.connection import demo_uri
from tui.core.usb.rules import Rule
from tui.model.fleet import Change
from tui.model.host import PollResult
from tui.model.ids import GuestKey
from tui.model.link import LinkReport, LinkState
from tui.model.usb import UsbOwners
from tui.model.usb_doctor import LOCAL, UsbHostStatus
from tui.model.vt import Check, Status, VtReport
from tui.ui.app import KvmDeckApp

SIZES = [(80, 24), (120, 40), (200, 50)]
DB_UUID = "6b1c0a3e-0d7e-4c1a-9e1b-000000000001"
SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]
sizes = pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)


def vt_report() -> VtReport:
    """A fixed doctor report, shaped like this machine's (PVM, a VM without USB or IOMMU)."""
    s = Status
    checks = (
        Check(
            "cpu",
            "CPU virtualization flags",
            s.WARN,
            "GenuineIntel: no vmx/svm in flags; KVM runs through kvm_pvm instead "
            "(kvm-ok and virt-host-validate wrongly say FAIL here)",
            "Nothing to do for PVM; for hardware KVM, enable nested virtualization on the "
            "outer hypervisor.",
        ),
        Check("kmsg", "Firmware VT (kernel log)", s.OK, "no 'disabled by BIOS' line since boot"),
        Check(
            "msr",
            "Firmware VT (MSR)",
            s.UNKNOWN,
            "no /dev/cpu/0/msr",
            "As root: modprobe msr, then run the doctor again.",
        ),
        Check("module", "KVM module", s.OK, "kvm_pvm built in"),
        Check("devkvm", "/dev/kvm", s.OK, "character device 10:232, mode 0660 root:kvm"),
        Check("probe", "KVM functional probe", s.OK, "API version 12, KVM_CREATE_VM ok (3.0 ms)"),
        Check(
            "iommu",
            "IOMMU (PCI passthrough)",
            s.WARN,
            "no DMAR/IVRS table, no IOMMU groups: no PCI passthrough",
            "Enable VT-d / AMD-Vi (IOMMU) in the firmware setup.",
        ),
        Check(
            "usb",
            "USB bus (passthrough)",
            s.FAIL,
            "no /sys/bus/usb: USB passthrough is unavailable [test]",
            "This host has no USB controller (common in VMs): add one to use USB.",
        ),
    )
    return VtReport(
        checks=checks,
        usable=True,
        mode="pvm",
        host_is_guest=True,
        nested_supported=None,
        basis="probe",
        vendor="GenuineIntel",
        notes=(
            "This host is itself a virtual machine ('hypervisor' CPU flag).",
            "KVM runs through PVM (kvm_pvm), not VT-x/AMD-V: PVM guests need a PVM-enabled "
            "guest kernel.",
        ),
    )


async def inject(pilot) -> None:  # type: ignore[no-untyped-def]
    """Apply fixed results to the app's store, as the controllers would."""
    app: KvmDeckApp = pilot.app
    while not app.controllers:  # the main screen starts the app's sources once it is mounted
        await pilot.pause(0.01)
    host = app.host_order[0]
    fleet = app.fleet
    app.changed(fleet.apply_link(host, LinkReport(demo_uri(), LinkState.UP)))
    app.changed(fleet.apply_host_sample(fixed.host_sample()))
    fleet.local_history.cpu.clear()  # no history yet, as after the first host sample
    info = {i.uuid: i for i in fixed.demo_domains()}
    result = PollResult(demo_uri(), fixed.guest_samples(), 0.001, 0, None, info)
    fleet.apply_poll(host, 1, result)
    for uuid, history in fixed.histories().items():
        guest = fleet.guest(GuestKey(host, uuid))
        if guest is not None:
            guest.history = history
    app.changed(Change(hosts=frozenset({host}), link=True))
    await pilot.pause()
    app.log_event("web-frontend: started", wall=0.0, key=GuestKey(host, fixed.WEB_UUID))
    app.vt.report = vt_report()  # what `d` shows (the badge is injected already)
    await pilot.pause()


async def inject_usb(pilot, bus: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The USB coordinator's state, as its feed, owners read and rules load would set it: a
    host without a udev daemon (and with no USB bus at all when ``bus`` is False); two rules
    for devices that are not plugged in (the engine has not started: no owners read)."""
    await inject(pilot)
    app: KvmDeckApp = pilot.app
    coord = app.usb.coordinator
    coord.set_source("udev on this host", UsbHostStatus(LOCAL, bus=bus, udev=False))
    coord.set_devices(fixed.usb_devices() if bus else [])
    coord.owners = UsbOwners(by_address={(1, 4): "db-primary"})
    coord.use_rules(
        [Rule(0x1234, 0x5678, "db-primary"), Rule(None, None, "web-frontend", port="3-1")],
        None,
    )
    running = {g.name: g.state == "running" for g in fixed.guest_samples()}
    app.usb.guests_changed(0, running)  # the picker's guests, as the app reports them
    await pilot.pause()


async def inject_usb_no_bus(pilot) -> None:  # type: ignore[no-untyped-def]
    await inject_usb(pilot, bus=False)


@sizes
def test_main_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=size, run_before=inject)


@sizes
def test_guest_detail(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    run_before = selecting(fixed.WEB_UUID)  # running, with history for the charts
    assert snap_compare(fixed_app(), terminal_size=size, run_before=run_before, press=["enter"])


@sizes
def test_usb_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=size, run_before=inject_usb, press=["u"])


@sizes
def test_doctor(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=size, run_before=inject, press=["d"])


@sizes
def test_help_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=size, run_before=inject, press=["question_mark"])


def test_main_screen_sorted_by_cpu(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=(120, 40), run_before=inject, press=["P"])


def selecting(uuid: str):  # type: ignore[no-untyped-def]
    """A ``run_before``: :func:`inject`, then select the guest ``uuid``."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await inject(pilot)
        app: KvmDeckApp = pilot.app
        app.select_guest(GuestKey(app.host_order[0], uuid).row)
        await pilot.pause()

    return run_before


def test_force_off_confirmation(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(
        fixed_app(), terminal_size=(80, 24), run_before=selecting(DB_UUID), press=["X"]
    )


def test_usb_screen_without_a_usb_bus(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """This machine's case: no /sys/bus/usb, no udev daemon; the banner says so and what to do."""
    assert snap_compare(
        fixed_app(), terminal_size=(80, 24), run_before=inject_usb_no_bus, press=["u"]
    )


def test_usb_picker(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The picker at 80x24 with "persistent" switched on (Space): the state must show."""
    assert snap_compare(
        fixed_app(), terminal_size=(80, 24), run_before=inject_usb, press=["u", "a", "space"]
    )
