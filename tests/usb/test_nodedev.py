"""USB devices of a remote host via libvirt node devices (libvirt's test driver, in-process)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

import tui.demo
from testbed.wait import until
from tests.rules.helpers import FakeLibvirtError
from tui.adapters.libvirt.connection import register_event_loop, silence_libvirt_errors
from tui.adapters.libvirt.nodedev import (
    NodeDeviceWatch,
    RemoteUsbFeed,
    libvirt_usb_devices,
    port_from_name,
    usb_device_from_xml,
)
from tui.model.usb import UsbDevice, UsbEvent

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


class SpyConn:
    """The real test-driver connection, recording the thread of every node-device lookup
    (a spy, not a fake: each call goes to libvirt)."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn
        self.lookup_threads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def nodeDeviceLookupByName(self, name: str) -> libvirt.virNodeDevice:
        self.lookup_threads.append(threading.current_thread().name)
        return self.conn.nodeDeviceLookupByName(name)


async def _started(watch: NodeDeviceWatch) -> list[UsbDevice]:
    return await asyncio.to_thread(watch.start)


async def test_port_path_from_the_node_device_name(demo_conn: libvirt.virConnect) -> None:
    assert port_from_name("usb_2_1_3") == "2-1.3"
    assert port_from_name("usb_1_10") == "1-10"
    assert port_from_name("usb_usb2") == "usb_usb2"  # a root hub as libvirt's udev names it
    assert port_from_name("usb1") == "usb1"  # the test driver's root hub
    ports = {d.sys_path: d.port for d in libvirt_usb_devices(demo_conn)}
    assert ports == {"usb1": "usb1", "usb_1_4": "1-4", "usb_1_5": "1-5", "usb_2_3": "2-3"}


async def test_created_is_looked_up_in_the_watch_thread_never_on_the_loop(
    demo_conn: libvirt.virConnect,
) -> None:
    """libvirt's callback gets a CREATED or DELETED for a node device (driven here with the
    test driver's real device objects: its USB devices cannot be created or destroyed). A
    DELETED is answered from what is known; a CREATED is looked up in the watch's thread.
    Neither is delivered inside libvirt's callback: both come on the loop right after."""
    register_event_loop()
    spy = SpyConn(demo_conn)
    got: list[UsbEvent] = []
    watch = NodeDeviceWatch(spy, got.extend, asyncio.get_running_loop())  # type: ignore[arg-type]
    try:
        listed = await _started(watch)
        assert watch.mode == "events" and watch.callback_id is not None and not watch.note
        assert [d.sys_path for d in listed] == ["usb1", "usb_1_4", "usb_1_5", "usb_2_3"]
        stick = demo_conn.nodeDeviceLookupByName("usb_1_5")

        watch._on_lifecycle(demo_conn, stick, libvirt.VIR_NODE_DEVICE_EVENT_DELETED, 0, None)
        assert got == [] and spy.lookup_threads == []
        await asyncio.sleep(0)
        assert [(e.action, e.sys_path) for e in got] == [("remove", "usb_1_5")]
        assert got[0].device is not None and got[0].device.product_name == "Ultra"
        assert "usb_1_5" not in {d.sys_path for d in watch.devices()}

        watch._on_lifecycle(demo_conn, stick, libvirt.VIR_NODE_DEVICE_EVENT_CREATED, 0, None)
        assert len(got) == 1  # nothing yet: the lookup runs in the watch's thread
        await until(lambda: len(got) == 2, "the add after the lookup")
        added = got[1]
        assert (added.action, added.sys_path) == ("add", "usb_1_5")
        assert added.device is not None and added.device.port == "1-5"
        assert spy.lookup_threads == ["usb-nodedev-lookup"]
        assert "usb_1_5" in {d.sys_path for d in watch.devices()}
    finally:
        watch.stop()
    assert watch.callback_id is None


async def test_a_lookup_overtaken_by_the_unplug_is_dropped(demo_conn: libvirt.virConnect) -> None:
    register_event_loop()
    got: list[UsbEvent] = []
    watch = NodeDeviceWatch(demo_conn, got.extend, asyncio.get_running_loop())
    try:
        await _started(watch)
        watch.event("usb_1_5", libvirt.VIR_NODE_DEVICE_EVENT_DELETED)
        watch.event("usb_1_5", libvirt.VIR_NODE_DEVICE_EVENT_CREATED)  # plugged …
        watch.event("usb_1_5", libvirt.VIR_NODE_DEVICE_EVENT_DELETED)  # … and gone again
        await until(lambda: watch.lookups == 1 and got, "the lookup and the first remove")
        for _ in range(3):
            await asyncio.sleep(0)  # the lookup's result (posted before ``lookups`` counts)
        assert [e.action for e in got] == ["remove"]  # the second DELETED: nothing known
        assert "usb_1_5" not in {d.sys_path for d in watch.devices()}
        watch.event("pci_0000_00_02_0", libvirt.VIR_NODE_DEVICE_EVENT_CREATED)  # not USB
        assert watch.lookups == 1
    finally:
        watch.stop()


async def test_watch_receives_real_events_and_skips_non_usb() -> None:
    """The test driver can create (and destroy) a vHBA: real lifecycle events, not USB, so
    they are not even looked up."""
    register_event_loop()
    silence_libvirt_errors()
    conn = libvirt.open("test:///default")
    got: list[UsbEvent] = []
    calls: list[tuple[str, int]] = []
    watch = NodeDeviceWatch(conn, got.extend, asyncio.get_running_loop())
    original = watch.event

    def spy(name: str, event: int) -> None:
        calls.append((name, event))
        original(name, event)

    watch.event = spy  # type: ignore[method-assign]
    try:
        assert await _started(watch) == []  # the default test host has no USB devices
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
        assert got == [] and watch.lookups == 0
    finally:
        watch.stop()
        conn.close()
    assert watch.callback_id is None


class RefusingConn(SpyConn):
    """The test driver, with two things no libvirt at hand can do: refuse node-device event
    registration (every libvirtd since 2.2 supports it) and have USB devices come and go
    (its USB node devices are fixed). Listing still goes to the real test driver."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        super().__init__(conn)
        self.hidden: set[str] = set()

    def nodeDeviceEventRegisterAny(self, *_a: object) -> int:
        raise FakeLibvirtError("this function is not supported by the connection driver")

    def listAllDevices(self, flags: int = 0) -> list[libvirt.virNodeDevice]:
        return [d for d in self.conn.listAllDevices(flags) if d.name() not in self.hidden]


async def test_refused_registration_falls_back_to_listing(
    demo_conn: libvirt.virConnect, caplog: pytest.LogCaptureFixture
) -> None:
    conn = RefusingConn(demo_conn)
    got: list[UsbEvent] = []
    feed = RemoteUsbFeed(conn, list_every=0.05)  # type: ignore[arg-type]
    try:
        with caplog.at_level("WARNING", logger="tui.adapters.libvirt.nodedev"):
            devices = await asyncio.to_thread(feed.start, asyncio.get_running_loop(), got.extend)
        assert len(devices) == 4 and feed.watch is not None and feed.watch.mode == "listing"
        assert "node-device events refused" in feed.note and "listing" in feed.note
        assert "not supported" in caplog.text and "listing USB devices every" in caplog.text
        conn.hidden.add("usb_1_5")  # unplugged
        await until(lambda: [e.action for e in got] == ["remove"], "the remove from a list")
        conn.hidden.clear()  # plugged back in
        await until(lambda: [e.action for e in got] == ["remove", "add"], "the add")
        assert got[1].sys_path == "usb_1_5" and len(feed.devices()) == 4
    finally:
        feed.stop()
    assert feed.devices() == []


async def test_real_libvirtd_registers_for_node_device_events() -> None:
    """qemu:///system speaks libvirt's RPC protocol over a UNIX socket, as qemu+ssh:// does
    over ssh: the registration and the one list are the remote path's. (No USB bus here:
    the list is empty and no USB event can come; the USB lab plugs real devices.)"""
    register_event_loop()
    silence_libvirt_errors()
    try:
        conn = libvirt.open("qemu:///system")
    except libvirt.libvirtError as exc:
        pytest.skip(f"no libvirtd here: {exc}")
    feed = RemoteUsbFeed(conn)
    try:
        devices = await asyncio.to_thread(feed.start, asyncio.get_running_loop(), lambda _e: None)
        assert feed.watch is not None and feed.watch.mode == "events" and feed.note == ""
        assert feed.watch.callback_id is not None
        assert devices == libvirt_usb_devices(conn)
    finally:
        watch = feed.watch
        feed.stop()
        if watch is not None:
            await until(lambda: watch.callback_id is None, "the unregistration", timeout=10)
        conn.close()


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
