"""The USB adapters plugged into the core's USB ports (part of the composition root).

:func:`usb_services` is what ``tui/cli/wiring.py`` puts into the app's services and what
``kvmdeck rules`` passes to :func:`tui.core.usb.headless.run_rules`. The adapters (libvirt,
pyudev) are imported inside the factories, when first used: start-up does not pay for them.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any
from urllib.parse import urlsplit

from tui.core.usb.ports import DeviceFeed, HostdevPort, UsbServices
from tui.model.usb import HostdevError, UsbDevice
from tui.model.usb_doctor import DEMO, REMOTE, HostProbe

USB_SOURCE_ENV = "KVMDECK_USB_SOURCE"  # "nodedev": libvirt node devices even for a local URI


def _local_feed() -> DeviceFeed:
    from tui.adapters.local.udev import UsbMonitor

    return UsbMonitor()


def _remote_feed(conn: Any) -> DeviceFeed:
    from tui.adapters.libvirt.nodedev import RemoteUsbFeed

    return RemoteUsbFeed(conn)


def _hostdev(conn: Any) -> HostdevPort:
    from tui.adapters.libvirt.hostdev import LibvirtHostdev

    return LibvirtHostdev(conn)


def _udev_daemon_running() -> bool:
    from tui.adapters.local.udev import udev_daemon_running

    return udev_daemon_running()


def _uses_node_devices(conn: Any) -> bool:
    """A remote host, or the demo's test driver: USB comes from libvirt's node devices.
    (virConnectGetURI formats the URI kept at open: no RPC, it does not block.)
    ``KVMDECK_USB_SOURCE=nodedev`` forces node devices for a local URI too (the USB lab
    checks the remote path with qemu:///system that way)."""
    from tui.adapters.libvirt.connection import is_remote, is_test_driver

    try:
        uri = conn.getURI()
    except Exception:  # a closed connection: fall back to this machine's udev
        return False
    forced = os.environ.get(USB_SOURCE_ENV, "").strip().lower() == "nodedev"
    return forced or is_remote(uri) or is_test_driver(uri)


def _doctor_probe(conn: Any, dev: UsbDevice) -> HostProbe:
    """The USB doctor's host probes: files and the kernel log of this machine only (a remote
    host's are not readable from here; the demo's devices have none). Blocks."""
    from tui.adapters.libvirt.connection import is_remote, is_test_driver

    try:
        uri = str(conn.getURI())
    except Exception:  # a closed connection: this machine's default URI
        uri = ""
    if is_test_driver(uri):
        return HostProbe(DEMO)
    if is_remote(uri):
        return HostProbe(REMOTE)
    from tui.adapters.local.usbprobe import probe_device

    return probe_device(dev, session=urlsplit(uri).path.rstrip("/") == "/session")


def _open_connection(uri: str | None, readonly: bool) -> Any:
    from tui.adapters.libvirt.connection import ConnectFailed, open_connection

    try:
        return open_connection(uri, readonly)
    except ConnectFailed as exc:
        raise HostdevError("not-connected", str(exc)) from exc


def _close_connection(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def _register_event_loop() -> object:
    from tui.adapters.libvirt.connection import register_event_loop

    return register_event_loop()


def _is_test_connection(conn: Any) -> bool:
    from tui.adapters.libvirt.connection import is_test_driver

    try:
        return is_test_driver(conn.getURI())
    except Exception:  # a closed connection
        return False


def _demo_feed(conn: Any) -> DeviceFeed:
    """Demo mode: the test driver's USB devices with a simulated replug every ~20 s."""
    if not _is_test_connection(conn):
        return _remote_feed(conn)
    from tui.adapters.demo.usb import DemoUsbFeed

    return DemoUsbFeed(conn)


def _demo_hostdev(conn: Any) -> HostdevPort:
    """Demo mode: attach/detach recorded in memory (the test driver cannot attach)."""
    if not _is_test_connection(conn):
        return _hostdev(conn)
    from tui.adapters.demo.usb import DemoHostdev

    return DemoHostdev(conn)


def usb_services(demo: bool = False) -> UsbServices:
    """``demo`` (``--demo``): simulated plugging and attaching on test-driver hosts."""
    return UsbServices(
        local_feed=_local_feed,
        remote_feed=_demo_feed if demo else _remote_feed,
        hostdev=_demo_hostdev if demo else _hostdev,
        udev_daemon_running=_udev_daemon_running,
        uses_node_devices=_uses_node_devices,
        open_connection=_open_connection,
        close_connection=_close_connection,
        register_event_loop=_register_event_loop,
        doctor_probe=_doctor_probe,
    )


def run_rules_command(uri: str | None, *, once: bool, list_only: bool, readonly: bool) -> int:
    """``kvmdeck rules``: the headless runner with these adapters."""
    from tui.core.usb.headless import run_rules

    return run_rules(
        uri, once=once, list_only=list_only, readonly=readonly, services=usb_services()
    )


__all__ = ["run_rules_command", "usb_services"]
