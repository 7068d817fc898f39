"""UsbMonitor, enumerate_devices and device_from_udev against a real umockdev testbed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pyudev

from testbed.pacing import churn
from testbed.usb import UsbBed, usb_spec
from testbed.wait import until
from tui.adapters.local.udev import UsbMonitor, enumerate_devices, udev_daemon_running
from tui.model.usb import UsbDevice, UsbEvent

LOGI = (0x046D, 0xC52B)


def by_port(devices: list[UsbDevice]) -> dict[str, UsbDevice]:
    return {d.port: d for d in devices}


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[UsbEvent]] = []

    def __call__(self, events: list[UsbEvent]) -> None:
        self.batches.append(list(events))

    @property
    def events(self) -> list[UsbEvent]:
        return [e for batch in self.batches for e in batch]


def test_padded_numbers_are_decimal(usb_bed: UsbBed) -> None:
    usb_bed.plug("1-1", 1, 10, *LOGI, pad=True)  # BUSNUM=001 DEVNUM=010
    usb_bed.plug("1-2", 1, 9, 0x0781, 0x5581, pad=True)  # DEVNUM=009: invalid octal
    found = by_port(enumerate_devices(pyudev.Context()))
    assert (found["1-1"].busnum, found["1-1"].devnum) == (1, 10)
    assert (found["1-2"].busnum, found["1-2"].devnum) == (1, 9)
    assert found["1-1"].address == "001:010"


def test_numbers_from_sysfs_attributes_when_properties_lack_them(usb_bed: UsbBed) -> None:
    spec = usb_spec("1-3", usb_bed.hub, 2, 8, *LOGI, pad=True)
    del spec["properties"]["BUSNUM"], spec["properties"]["DEVNUM"]
    usb_bed.add(spec)  # sysfs busnum="002", devnum="008"
    found = by_port(enumerate_devices(pyudev.Context()))
    assert (found["1-3"].busnum, found["1-3"].devnum) == (2, 8)


def test_names_and_ids(usb_bed: UsbBed) -> None:
    usb_bed.plug(
        "1-1",
        1,
        2,
        *LOGI,
        manufacturer="Logitech",
        product="USB Receiver",
        serial="ABC123",
        speed="12",
    )
    usb_bed.plug(
        "1-2",
        1,
        3,
        0x0781,
        0x5581,
        manufacturer="SanDisk",
        product="Ultra",
        hwdb=("SanDisk Corp.", "Ultra Fit"),
    )
    usb_bed.plug("1-3", 1, 4, 0x0403, 0x6001)  # no names anywhere
    found = by_port(enumerate_devices(pyudev.Context()))

    sysfs = found["1-1"]
    assert (sysfs.vendor_name, sysfs.product_name, sysfs.names_from) == (
        "Logitech",
        "USB Receiver",
        "sysfs",
    )
    assert (sysfs.vendor_id, sysfs.product_id, sysfs.ids) == (0x046D, 0xC52B, "046d:c52b")
    assert (sysfs.serial, sysfs.speed, sysfs.source) == ("ABC123", "12", "udev")

    hwdb = found["1-2"]
    assert (hwdb.vendor_name, hwdb.product_name, hwdb.names_from) == (
        "SanDisk Corp.",
        "Ultra Fit",
        "hwdb",
    )

    bare = found["1-3"]
    assert (bare.label, bare.names_from) == ("0403:6001", "none")

    hub = found["usb1"]
    assert hub.is_root_hub and hub.sys_path == "/sys/devices/usb1"


def test_interfaces_are_not_devices(usb_bed: UsbBed) -> None:
    dev = usb_bed.plug("1-1", 1, 2, *LOGI)
    usb_bed.add(
        {
            "subsystem": "usb",
            "name": "1-1:1.0",
            "parent": dev.path,
            "attributes": {"bInterfaceClass": "03"},
            "properties": {"DEVTYPE": "usb_interface", "INTERFACE": "3/1/2"},
        }
    )
    assert sorted(d.port for d in enumerate_devices(pyudev.Context())) == ["1-1", "usb1"]


def test_udev_daemon_detection(tmp_path: Path) -> None:
    assert not udev_daemon_running(tmp_path)
    (tmp_path / "run" / "udev").mkdir(parents=True)
    assert udev_daemon_running(tmp_path)


def test_kernel_source_without_udev_daemon(usb_bed: UsbBed, tmp_path: Path) -> None:
    assert UsbMonitor(pyudev.Context(), root=tmp_path).source == "kernel"
    (tmp_path / "run" / "udev").mkdir(parents=True)
    assert UsbMonitor(pyudev.Context(), root=tmp_path).source == "udev"


@pytest.mark.parametrize("source", ["kernel", "udev"])
async def test_plug_then_unplug(usb_bed: UsbBed, source: str) -> None:
    monitor = UsbMonitor(pyudev.Context(), source=source)
    seen = Recorder()
    initial = monitor.start(asyncio.get_running_loop(), seen)
    try:
        assert [d.port for d in initial] == ["usb1"]

        sent = await asyncio.to_thread(
            usb_bed.plug, "1-4", 1, 10, *LOGI, manufacturer="Logitech", product="Receiver"
        )
        await until(lambda: seen.events, "the add event")
        (added,) = seen.events
        assert added.action == "add" and added.sys_path == sent.path
        assert added.device is not None
        assert (added.device.port, added.device.devnum, added.device.label) == (
            "1-4",
            10,
            "Logitech Receiver",
        )
        assert monitor.known[sent.path] == added.device

        await asyncio.to_thread(usb_bed.unplug, sent.path)
        await until(lambda: len(seen.events) == 2, "the remove event")
        removed = seen.events[1]
        assert removed.action == "remove" and removed.sys_path == sent.path
        # The sysfs directory is gone: the device comes from `known`, names included.
        assert removed.device == added.device
        assert sent.path not in monitor.known
    finally:
        monitor.stop()
    assert not monitor.running


async def test_bind_kept_and_interfaces_dropped(usb_bed: UsbBed) -> None:
    monitor = UsbMonitor(pyudev.Context())
    seen = Recorder()
    monitor.start(asyncio.get_running_loop(), seen)
    try:
        dev = await asyncio.to_thread(usb_bed.plug, "1-1", 1, 2, *LOGI)
        await asyncio.to_thread(
            usb_bed.add,
            {
                "subsystem": "usb",
                "name": "1-1:1.0",
                "parent": dev.path,
                "attributes": {},
                "properties": {"DEVTYPE": "usb_interface"},
            },
        )
        await asyncio.to_thread(usb_bed.set_property, dev.path, "DRIVER", "usb")
        await asyncio.to_thread(usb_bed.uevent, dev.path, "bind")
        await until(lambda: len(seen.events) >= 2, "add and bind")
        await asyncio.sleep(0.05)  # an interface event would have arrived by now
        assert [(e.action, e.sys_path) for e in seen.events] == [
            ("add", dev.path),
            ("bind", dev.path),
        ]
        bound = seen.events[1].device
        assert bound is not None and bound.driver == "usb"
    finally:
        monitor.stop()


async def test_one_callback_per_wakeup(usb_bed: UsbBed) -> None:
    """Events queued while the loop is busy arrive as one batch."""
    monitor = UsbMonitor(pyudev.Context())
    seen = Recorder()
    monitor.start(asyncio.get_running_loop(), seen)
    try:
        # Blocking calls: the loop cannot drain in between, so all 5 wait in the socket.
        paths = [usb_bed.plug(f"1-{i}", 1, 10 + i, *LOGI).path for i in range(1, 6)]
        await until(lambda: seen.events, "the batch")
        await asyncio.sleep(0.05)
        assert len(seen.batches) == 1
        assert [e.sys_path for e in seen.batches[0]] == paths
        assert monitor.wakeups == 1
    finally:
        monitor.stop()


async def test_200_events_leave_exact_state(usb_bed: UsbBed) -> None:
    monitor = UsbMonitor(pyudev.Context())
    seen = Recorder()
    monitor.start(asyncio.get_running_loop(), seen)
    try:
        expected = await churn(usb_bed, 200, seed=5, settled=lambda n: len(seen.events) >= n)
        assert len(seen.events) == 200
        assert set(monitor.known) == expected | {usb_bed.hub}
        # And it matches what sysfs says now.
        assert {d.sys_path for d in enumerate_devices(pyudev.Context())} == set(monitor.known)
    finally:
        monitor.stop()
