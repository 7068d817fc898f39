"""Issue 22 item 1: the USB screen says why a host shows no USB devices, ``w`` reports on the
host without a device, and ``D`` forgets a rule whether or not its device is plugged in.

The no-USB-bus case is this machine itself (a VM without a USB controller: no
/sys/bus/usb/devices): the app runs against the real libvirtd with the real udev feed and the
real probes. On a machine with a USB bus the same test checks the other branch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apps import app_until
from tui.adapters.libvirt.connection import demo_uri
from tui.adapters.local.udev import usb_host_status
from tui.cli.wiring import make_app
from tui.config import rules_path
from tui.core.usb.host_doctor import NO_BUS, NO_BUS_FIX, host_problems
from tui.core.usb.rules import Rule, load_rules, save_rules
from tui.model.display import Level
from tui.ui.app import AppOptions
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.usb import UsbScreen
from tui.ui.screens.usb_doctor import HOST_TEXT, UsbDoctorScreen, findings_text


def test_usb_host_status_reads_sysfs_and_run(tmp_path: Path) -> None:
    status = usb_host_status(tmp_path)
    assert (status.bus, status.udev, status.error) == (False, False, "")
    assert [f.name for f in host_problems(status)] == ["USB bus"]  # udev: moot without a bus
    (tmp_path / "sys/bus/usb/devices").mkdir(parents=True)
    assert [f.name for f in host_problems(usb_host_status(tmp_path))] == ["udev"]
    (tmp_path / "run/udev").mkdir(parents=True)
    status = usb_host_status(tmp_path)
    assert (status.bus, status.udev, status.error) == (True, True, "")
    assert host_problems(status) == []
    (tmp_path / "sys/bus/usb/devices").rmdir()
    (tmp_path / "sys/bus/usb/devices").write_text("")  # not a directory: unreadable
    status = usb_host_status(tmp_path)
    assert status.bus is None and "cannot read /sys/bus/usb/devices" in status.error
    (problem,) = host_problems(status)
    assert problem.name == "Reading USB" and problem.status is Level.FAIL and problem.fix


@pytest.mark.libvirtd
async def test_this_machine_usb_screen_and_the_host_doctor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """qemu:///system and this machine's own USB (none here): the banner names the missing bus
    and the fix; ``w`` with nothing selected is the host's report."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    here = usb_host_status()
    assert here.bus == Path("/sys/bus/usb/devices").is_dir()
    app = make_app(AppOptions(uris=["qemu:///system"], readonly=True, vt_badge="KVM: test"))
    async with app.run_test(size=(100, 30)) as pilot:
        await app_until(pilot, lambda: app.usb and app.usb.coordinator.host is not None, "USB")
        await pilot.press("u")
        screen = app.screen
        assert isinstance(screen, UsbScreen)
        await pilot.pause()
        if here.bus is False:
            assert screen.warning_shown
            assert NO_BUS in screen.banner and NO_BUS_FIX in screen.banner
            assert screen.warning_line.region.height >= 2  # the whole sentence, and the fix
            assert screen.table.selected_device is None
        else:
            assert NO_BUS not in screen.banner
        screen.table.move_cursor(row=0)
        if screen.table.selected_device is not None:  # a machine with devices: the rules list
            await pilot.press("tab")
        await pilot.press("w")
        await app_until(pilot, lambda: isinstance(app.screen, UsbDoctorScreen), "the doctor")
        doctor = app.screen
        assert isinstance(doctor, UsbDoctorScreen) and doctor.device is None
        await app_until(pilot, lambda: doctor.findings is not None, "the findings", 30.0)
        found = {f.name: f for f in doctor.findings or []}
        assert {"USB bus", "Permissions", "AppArmor/SELinux", "Guests' USB controllers"} <= set(
            found
        )
        if here.bus is False:
            assert found["USB bus"].status is Level.FAIL and found["USB bus"].fix == NO_BUS_FIX
            assert (
                "no USB passthrough from this host"
                in findings_text(doctor.findings or [], host=True).plain
            )
        assert "QEMU runs as" in found["Permissions"].detail
        await pilot.pause()
        assert HOST_TEXT in str(doctor.query_one("#usb-doctor-device").render())


PRESENT = Rule(0x0781, 0x5581, "web-frontend")  # the demo's SanDisk stick (usb_1_5)
ABSENT = Rule(0x1234, 0x5678, "db-primary", persistent=True)  # nothing like it is plugged in


async def test_forget_a_rule_whose_device_is_not_plugged_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    save_rules([PRESENT, ABSENT], rules_path())
    app = make_app(AppOptions(uris=[demo_uri()], demo=True, vt_badge="KVM: test"))
    async with app.run_test(size=(120, 30)) as pilot:
        await app_until(pilot, lambda: app.usb and app.usb.coordinator.started, "USB")
        await pilot.press("u")
        screen = app.screen
        assert isinstance(screen, UsbScreen)
        rules = screen.rules_table
        await app_until(pilot, lambda: rules.row_count == 2, "the rules rows")
        assert rules.rules[1].rule == ABSENT and rules.rules[1].state == "waiting"
        await pilot.press("tab")  # from the devices to the rules
        assert rules.has_focus
        await pilot.press("down")
        assert rules.selected_rule is not None and rules.selected_rule.rule == ABSENT
        await pilot.press("D")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await app_until(pilot, lambda: load_rules(rules_path()) == [PRESENT], "rules.toml")
        await app_until(pilot, lambda: rules.row_count == 1, "one row left")
        assert app.usb.coordinator.engine.rules == [PRESENT]
