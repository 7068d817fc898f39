"""USB devices of a remote host via libvirt node devices (libvirt's test driver, in-process)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

import tui.demo
from tests.usb.pacing import until
from tui.adapters.libvirt.connection import register_event_loop, silence_libvirt_errors
from tui.adapters.libvirt.nodedev import (
    NodeDeviceWatch,
    RemoteUsbFeed,
    libvirt_usb_devices,
    usb_device_from_xml,
)
from tui.model.usb import UsbEvent

DEMO_XML = Path(tui.demo.__file__).resolve().parent / "demo.xml"


@pytest.fixture()
def demo_conn() -> Iterator[libvirt.virConnect]:
    silence_libvirt_errors()
    conn = libvirt.open(f"test://{DEMO_XML}")
    yield conn
    conn.close()


def test_usb_node_devices_of_demo_host(demo_conn: libvirt.virConnect) -> None:
    devices = {d.sys_path: d for d in libvirt_usb_devices(demo_conn)}
    assert sorted(devices) == ["usb1", "usb_1_4", "usb_1_5", "usb_2_3"]
    logi = devices["usb_1_4"]
    assert (logi.busnum, logi.devnum, logi.vendor_id, logi.product_id) == (1, 4, 0x046D, 0xC52B)
    assert (logi.vendor_name, logi.product_name) == ("Logitech, Inc.", "Unifying Receiver")
    assert (logi.source, logi.names_from, logi.key) == ("libvirt", "libvirt", "usb_1_4")
    assert devices["usb1"].is_root_hub
    assert devices["usb_2_3"].address == "002:003"


def test_xml_with_path_driver_and_padded_numbers() -> None:
    # The shape libvirtd's udev backend writes on a real host.
    xml = """<device>
      <name>usb_1_10</name>
      <path>/sys/devices/pci0000:00/0000:00:14.0/usb1/1-10</path>
      <devnode type='dev'>/dev/bus/usb/001/010</devnode>
      <parent>usb_usb1</parent>
      <driver><name>usb</name></driver>
      <capability type='usb_device'>
        <bus>1</bus><device>010</device>
        <product id='0x5581'>Ultra</product><vendor id='0x0781'>SanDisk Corp.</vendor>
      </capability>
    </device>"""
    device = usb_device_from_xml(xml)
    assert device is not None
    assert (device.port, device.busnum, device.devnum, device.driver) == ("1-10", 1, 10, "usb")
    assert (
        usb_device_from_xml("<device><name>pci_0</name><capability type='pci'/></device>") is None
    )
    assert usb_device_from_xml("not xml") is None


def test_watch_turns_lifecycle_into_usb_events(demo_conn: libvirt.virConnect) -> None:
    got: list[UsbEvent] = []
    watch = NodeDeviceWatch(demo_conn, got.extend)
    watch.known = {d.sys_path: d for d in libvirt_usb_devices(demo_conn)}
    nodedev = demo_conn.nodeDeviceLookupByName("usb_1_5")

    removed = watch.handle(nodedev, libvirt.VIR_NODE_DEVICE_EVENT_DELETED)
    assert removed is not None and removed.action == "remove"
    assert removed.device is not None and removed.device.product_name == "Ultra"
    assert "usb_1_5" not in watch.known

    added = watch.handle(nodedev, libvirt.VIR_NODE_DEVICE_EVENT_CREATED)
    assert added is not None and added.action == "add" and added.sys_path == "usb_1_5"
    assert watch.known["usb_1_5"] == added.device

    other = libvirt.open("test:///default")  # a host with only SCSI node devices
    try:
        scsi = other.nodeDeviceLookupByName("scsi_host1")
        assert watch.handle(scsi, libvirt.VIR_NODE_DEVICE_EVENT_CREATED) is None
        assert watch.handle(scsi, libvirt.VIR_NODE_DEVICE_EVENT_DELETED) is None
    finally:
        other.close()
    assert got == []  # handle() only converts; the callback is what delivers


async def test_watch_receives_real_events_and_skips_non_usb() -> None:
    """The test driver can create (and destroy) a vHBA: real lifecycle events, not USB."""
    register_event_loop()
    silence_libvirt_errors()
    conn = libvirt.open("test:///default")
    got: list[UsbEvent] = []
    calls: list[tuple[str, int]] = []
    watch = NodeDeviceWatch(conn, got.extend)
    original = watch.handle

    def spy(nodedev: libvirt.virNodeDevice, event: int) -> UsbEvent | None:
        calls.append((nodedev.name(), event))
        return original(nodedev, event)

    watch.handle = spy  # type: ignore[method-assign]
    try:
        assert watch.start() == []  # the default test host has no USB devices
        assert watch.callback_id is not None
        vhba = conn.nodeDeviceCreateXML(
            "<device><parent>scsi_host1</parent><capability type='scsi_host'>"
            "<capability type='fc_host'><wwnn>2000000012341299</wwnn>"
            "<wwpn>1000000012341299</wwpn></capability></capability></device>",
            0,
        )
        name = vhba.name()
        vhba.destroy()
        await until(lambda: len(calls) >= 2, "two lifecycle callbacks")
        assert calls == [
            (name, libvirt.VIR_NODE_DEVICE_EVENT_CREATED),
            (name, libvirt.VIR_NODE_DEVICE_EVENT_DELETED),
        ]
        await asyncio.sleep(0)
        assert got == []
    finally:
        watch.stop()
        conn.close()
    assert watch.callback_id is None


async def test_remote_feed_lists_and_stops_without_blocking() -> None:
    """The DeviceFeed of a libvirt host: start lists (and registers), stop returns at once."""
    register_event_loop()
    silence_libvirt_errors()
    conn = libvirt.open(f"test://{DEMO_XML}")
    feed = RemoteUsbFeed(conn)
    got: list[UsbEvent] = []
    try:
        devices = await asyncio.to_thread(feed.start, asyncio.get_running_loop(), got.extend)
        assert [d.sys_path for d in devices] == ["usb1", "usb_1_4", "usb_1_5", "usb_2_3"]
        assert feed.devices() == devices
        feed.stop()
        assert feed.devices() == []
    finally:
        await asyncio.sleep(0.1)  # the daemon thread unregisters
        conn.close()
