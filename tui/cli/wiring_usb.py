"""The USB adapters plugged into the core's USB ports (part of the composition root).

:func:`usb_services` is what ``tui/cli/wiring.py`` puts into the app's services and what
``kvmdeck rules`` passes to :func:`tui.core.usb.headless.run_rules`. The adapters (libvirt,
pyudev) are imported inside the factories, when first used: start-up does not pay for them.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tui.core.usb.ports import DeviceFeed, HostdevPort, UsbServices
from tui.model.usb import HostdevError
from tui.model.usb_doctor import UsbHostStatus


def _local_feed() -> DeviceFeed:
    from tui.adapters.local.udev import UsbMonitor

    return UsbMonitor()


def _remote_feed(conn: Any) -> DeviceFeed:
    from tui.adapters.libvirt.nodedev import RemoteUsbFeed

    return RemoteUsbFeed(conn)


def _hostdev(conn: Any) -> HostdevPort:
    from tui.adapters.libvirt.hostdev import LibvirtHostdev

    return LibvirtHostdev(conn)


def _local_status() -> UsbHostStatus:
    from tui.adapters.local.udev import usb_host_status

    return usb_host_status()


def _uses_node_devices(conn: Any) -> bool:
    """A remote host, or the test driver (or ``KVMDECK_USB_SOURCE=nodedev``): USB comes from
    libvirt's node devices. (virConnectGetURI formats the URI kept at open: no RPC.)"""
    from tui.adapters.libvirt.families import uses_node_devices

    try:
        uri = conn.getURI()
    except Exception:  # a closed connection: fall back to this machine's udev
        return False
    return uses_node_devices(uri)


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


def usb_services() -> UsbServices:
    """This machine's USB feed for the TUI (a host's own USB is its capability family,
    ``tui.core.ports.UsbHostPort``), and the connection-level adapters ``kvmdeck rules``
    uses."""
    return UsbServices(
        local_feed=_local_feed,
        remote_feed=_remote_feed,
        hostdev=_hostdev,
        local_status=_local_status,
        uses_node_devices=_uses_node_devices,
        open_connection=_open_connection,
        close_connection=_close_connection,
        register_event_loop=_register_event_loop,
    )


def run_rules_command(uri: str | None, *, once: bool, list_only: bool, readonly: bool) -> int:
    """``kvmdeck rules``: the headless runner with these adapters."""
    from tui.core.usb.headless import run_rules

    return run_rules(
        uri, once=once, list_only=list_only, readonly=readonly, services=usb_services()
    )


__all__ = ["run_rules_command", "usb_services"]
