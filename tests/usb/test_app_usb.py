"""The real app under umockdev: plug → row; a rule requests the attach with the current address;
a manual attach reaches libvirtd and shows its real error (this VM has no /sys/bus/usb).
The USB side is the UsbFeature and its coordinator, wired by tui/cli/wiring.py."""

from __future__ import annotations

import pytest

import tui.core.usb.executor as executor
from testbed import bed
from testbed.usb import UsbBed
from testbed.wait import until
from tui.cli.wiring import make_app
from tui.core.usb.rules import Rule, save_rules
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.picker import GuestPicker

pytestmark = pytest.mark.libvirtd

FTDI = (0x0403, 0x6001)


def _events_text(app: KvmDeckApp) -> str:
    return "\n".join(app.fleet.events)


def _has_guest(app: KvmDeckApp, name: str) -> bool:
    return any(g.name == name for g in app.fleet.guests())


async def test_rule_attaches_with_current_address_and_replug(
    usb_bed: UsbBed, guests: list[bed.Guest], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = guests[0].name
    save_rules([Rule(FTDI[0], FTDI[1], target)])
    requested: list[tuple[str, int, int]] = []
    real_execute = executor.execute

    def spy(port, req, present=()):  # type: ignore[no-untyped-def]
        requested.append((req.guest, req.device.busnum, req.device.devnum))
        return real_execute(port, req, present)  # the real call, against the real libvirtd

    monkeypatch.setattr(executor, "execute", spy)
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=1.0))
    async with app.run_test(size=(170, 45)) as pilot:
        await until(lambda: _has_guest(app, target), "guest row", 30)
        await until(lambda: app.usb is not None and app.usb.coordinator.started, "USB", 30)
        monitor = app.usb.local_feed
        await pilot.pause(0.5)
        sent = usb_bed.plug("1-3", 1, 10, *FTDI, manufacturer="FTDI", product="FT232", serial="A1")
        await until(lambda: (target, 1, 10) in requested, "attach request for 1:10", timeout=15)
        # libvirtd's real answer on this VM, shown cleanly.
        await until(lambda: "cannot open directory" in _events_text(app), "libvirt error", 15)
        assert "Traceback" not in _events_text(app)
        assert sent.path in monitor.known
        usb_bed.uevent(sent.path, "remove")
        usb_bed.unplug(sent.path)
        await until(lambda: sent.path not in monitor.known, "unplug", 10)
        usb_bed.plug("1-3", 1, 9, *FTDI, manufacturer="FTDI", product="FT232", serial="A1")
        await until(lambda: (target, 1, 9) in requested, "attach request for 1:9 (replug)", 15)


async def test_manual_attach_shows_libvirt_error(usb_bed: UsbBed, guests: list[bed.Guest]) -> None:
    target = guests[1].name
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=1.0))
    async with app.run_test(size=(170, 45)) as pilot:
        await until(lambda: _has_guest(app, target), "guest row", 30)
        await until(lambda: app.usb is not None and app.usb.coordinator.started, "USB", 30)
        usb_bed.plug("1-4", 1, 12, 0x0781, 0x5581, manufacturer="SanDisk", product="Ultra")
        await pilot.press("u")
        await until(lambda: app.usb.screen.table.row_count >= 1, "USB row", 10)
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, GuestPicker), "guest picker", 5)
        picker = app.screen
        assert isinstance(picker, GuestPicker)
        index = [name for name, _state in picker.guests].index(target)
        for _ in range(index):
            await pilot.press("down")
        await pilot.press("enter")
        await until(
            lambda: (
                f"→ {target} [by hand]: FAILED" in _events_text(app)
                and "cannot open directory" in _events_text(app)
            ),
            "attach error in the event log",
            15,
        )
