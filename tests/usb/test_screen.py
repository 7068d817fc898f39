"""UsbScreen fed by a real UsbMonitor through a real UsbCoordinator (the only holder of the
devices; the screen renders its snapshots) on the app's loop, driven by a umockdev testbed."""

from __future__ import annotations

import asyncio

import pyudev
from textual.app import App

from testbed.pacing import churn
from testbed.usb import UsbBed
from testbed.wait import until
from tui.adapters.local.udev import UsbMonitor, usb_host_status
from tui.core.runner import Runner
from tui.core.usb.coordinator import UsbCoordinator
from tui.core.usb.host_doctor import NO_BUS, NO_UDEV
from tui.model.usb import UsbDevice, UsbEvent, UsbOwners
from tui.model.usb_doctor import REMOTE, UsbHostStatus
from tui.ui.screens.picker import GuestPicker
from tui.ui.screens.usb import LOCAL_SOURCE, UsbScreen
from tui.ui.widgets.usb_table import UsbEventLog, UsbTable

LOGI = (0x046D, 0xC52B)


class RecordedActions:
    """The screen's UsbActions, recorded: this file tests the screen and the feed, not the
    coordinator (tests/rules/test_coordinator.py does)."""

    readonly = False

    def __init__(self) -> None:
        self.attach_calls: list[tuple[str, str]] = []
        self.detach_calls: list[tuple[str, str]] = []

    def guest_choices(self) -> list[tuple[str, str]]:
        return [("build-vm", "running"), ("win11", "running")]

    def live_owner(self, device: UsbDevice) -> str | None:
        return None

    def attach(self, device: UsbDevice, guest: str, persistent: bool) -> str | None:
        self.attach_calls.append((device.port, guest))
        return None

    def move(self, device: UsbDevice, owner: str, guest: str, persistent: bool) -> str | None:
        return "not here"

    def detach(self, device: UsbDevice, guest: str) -> str | None:
        self.detach_calls.append((device.port, guest))
        return None

    def add_rule(
        self, device: UsbDevice, guest: str, persistent: bool, by: str = "auto"
    ) -> str | None:
        return "not here"

    def forget_rules(self, device: UsbDevice) -> str | None:
        return "not here"

    def forget_rule(self, rule: object) -> str | None:
        return "not here"

    def diagnose(self, device: object, done: object) -> None: ...


class UsbApp(App[None]):
    """What the real app does: start the monitor in on_mount with the running loop, feed the
    coordinator, and render its snapshots (no host connection: no owners reads). The screen
    asks its app (tui.ui.deck.Deck) for the read-only flag and the event log."""

    readonly = False

    def log_event(self, text: str, wall: float | None = None, key: object = None) -> None:
        pass

    def __init__(self, highlight_seconds: float = 3.0) -> None:
        super().__init__()
        self.monitor = UsbMonitor(pyudev.Context())
        self.actions = RecordedActions()
        self.usb = UsbScreen(actions=self.actions)
        self.usb.table.highlight_seconds = highlight_seconds
        self.received = 0

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        self.runner = Runner(loop, lambda name, exc: None)
        self.coord = UsbCoordinator(self.runner, on_update=self.push)
        self.coord.set_source(LOCAL_SOURCE, usb_host_status())
        self.push_screen(self.usb)
        self.coord.set_devices(self.monitor.start(loop, self.on_usb_events))

    def push(self) -> None:
        self.usb.show(self.coord.view())

    def on_usb_events(self, events: list[UsbEvent]) -> None:
        self.received += len(events)
        self.coord.usb_events(events)
        self.usb.log_events(events)

    def on_unmount(self) -> None:
        self.monitor.stop()
        self.coord.close()
        self.runner.close()


def table_of(app: UsbApp) -> UsbTable:
    return app.usb.query_one(UsbTable)


def row_text(table: UsbTable, key: str) -> list[str]:
    return [cell.plain for cell in table.get_row(key)]


async def test_plug_shows_row_then_unplug_removes_it(usb_bed: UsbBed) -> None:
    app = UsbApp(highlight_seconds=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        assert table.shown_keys == []  # only the root hub exists, hidden by default

        sent = await asyncio.to_thread(
            usb_bed.plug,
            "1-2",
            1,
            10,
            *LOGI,
            manufacturer="Logitech",
            product="USB Receiver",
            serial="SN42",
            speed="12",
        )
        await until(lambda: sent.path in table.rows, "the new row")
        assert row_text(table, sent.path) == [
            "1-2",
            "001:010",
            "046d:c52b",
            "Logitech USB Receiver",
            "SN42",
            "12M",
            "",
        ]
        assert table.is_highlighted(sent.path)
        assert table.get_row(sent.path)[0].style == "bold green"
        await pilot.pause()
        assert "Logitech USB Receiver" in "".join(
            table.render_line(y).text for y in range(table.size.height)
        )

        await until(lambda: not table.is_highlighted(sent.path), "the highlight to clear", 2.0)
        assert table.get_row(sent.path)[0].style == ""

        await asyncio.to_thread(usb_bed.unplug, sent.path)
        await until(lambda: sent.path not in table.rows, "the row to go")
        assert table.shown_keys == []
        log = app.usb.query_one(UsbEventLog).entries
        assert [line.split()[1] for line in log] == ["add", "remove"]
        assert "001:010 046d:c52b Logitech USB Receiver [1-2]" in log[1]


async def test_root_hub_toggle_source_and_warning(usb_bed: UsbBed) -> None:
    app = UsbApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        assert usb_bed.hub not in table.rows
        await pilot.press("r")
        assert table.shown_keys == [usb_bed.hub]
        await pilot.press("r")
        assert table.shown_keys == []

        assert str(app.usb.source_line.content) == LOCAL_SOURCE
        # This VM runs no udev daemon; the banner says what that costs and what to do. The
        # testbed has a USB bus: no word of a missing one.
        assert app.usb.warning_shown == (not app.monitor.udev_running)
        assert (NO_UDEV in app.usb.banner) == (not app.monitor.udev_running)
        assert "systemd-udevd" in app.usb.banner or app.monitor.udev_running
        assert NO_BUS not in app.usb.banner
        app.coord.set_source("libvirt node devices of vm", UsbHostStatus(REMOTE))
        await pilot.pause()
        assert not app.usb.warning_shown
        assert str(app.usb.source_line.content) == "libvirt node devices of vm"


async def test_rows_sorted_cursor_kept_owner_and_requests(usb_bed: UsbBed) -> None:
    app = UsbApp(highlight_seconds=0.1)
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        b = await asyncio.to_thread(usb_bed.plug, "1-10", 1, 5, 0x0781, 0x5581, product="Ultra")
        await until(lambda: b.path in table.rows, "1-10")
        assert table.selected_device is not None and table.selected_device.port == "1-10"

        a = await asyncio.to_thread(usb_bed.plug, "1-2", 1, 6, *LOGI, product="Receiver")
        await until(lambda: a.path in table.rows, "1-2")
        assert table.shown_keys == [a.path, b.path]  # natural port order: 1-2 before 1-10
        assert table.selected_device is not None and table.selected_device.port == "1-10"

        app.coord.owners = UsbOwners(by_address={(1, 5): "win11"}, by_ids={LOGI: "build-vm"})
        app.coord.on_update()  # what an owners read does
        assert row_text(table, b.path)[-1] == "win11"
        assert row_text(table, a.path)[-1] == "build-vm"

        await pilot.press("d")
        await pilot.press("up", "a")
        await until(lambda: isinstance(app.screen, GuestPicker), "the guest picker")
        await pilot.press("down", "enter")
        await until(lambda: app.actions.attach_calls, "the attach")
        assert app.actions.detach_calls == [("1-10", "win11")]
        assert app.actions.attach_calls == [("1-2", "win11")]


async def test_200_events_through_the_app(usb_bed: UsbBed) -> None:
    app = UsbApp(highlight_seconds=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        expected = await churn(usb_bed, 200, seed=11, settled=lambda n: app.received >= n)
        await pilot.pause()
        assert app.received == 200
        assert set(table.shown_keys) == expected
        assert set(table.devices) == expected | {usb_bed.hub}
        # Each row shows its own device (no stale cells from an earlier plug).
        for key in expected:
            port = key.rsplit("/", 1)[1]
            assert row_text(table, key)[:2] == [port, f"001:{20 + int(port[2:]):03d}"]
