"""The ports of the USB side: what the coordinator needs from the outside world.

No textual, no libvirt, no pyudev here (the UI imports this module). The adapters implement the
protocols (:class:`tui.adapters.libvirt.hostdev.LibvirtHostdev`,
:class:`tui.adapters.local.udev.UsbMonitor`, :class:`tui.adapters.libvirt.nodedev.RemoteUsbFeed`);
the composition root (:func:`tui.cli.wiring_usb.usb_services`) builds :class:`UsbServices`, the
factories the TUI and ``kvmdeck rules --run`` are given.

Threading: every :class:`HostdevPort` method blocks (libvirt RPCs): call it from a worker thread.
``DeviceFeed.start`` of a remote feed blocks too; the local one must run on the loop's thread
(it puts the netlink socket on that loop). Feed callbacks always run on the loop's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tui.model.domain import UsbHostdev
from tui.model.usb import GuestUsb, HostdevResult, UsbDevice, UsbEvent, UsbOwners
from tui.model.usb_doctor import UsbHostStatus

EventsCallback = Callable[[list[UsbEvent]], None]
GuestEventCallback = Callable[[str, str], None]  # (guest name, lifecycle kind: "started"…)


class HostdevPort(Protocol):
    """One host's USB hostdevs through libvirt. Every method blocks; errors are
    :class:`tui.model.usb.HostdevError` (never a libvirt exception)."""

    def inspect(self, guest: str) -> GuestUsb:
        """The guest's state and its live and saved USB hostdevs."""
        ...

    def apply_attach(
        self,
        guest: str,
        dev: UsbDevice,
        *,
        live: bool,
        config: bool,
        config_address: bool,
        note: str = "",
    ) -> HostdevResult:
        """LIVE (by vendor:product and current address), then CONFIG (startupPolicy optional;
        the address only when ``config_address``). A CONFIG failure after a LIVE success is
        reported in ``config_error``, not raised. The executor decides the flags."""
        ...

    def apply_detach(
        self,
        guest: str,
        dev: UsbDevice,
        *,
        live_entry: UsbHostdev | None,
        config_entry: UsbHostdev | None,
    ) -> HostdevResult:
        """Remove these entries, named exactly as the domain holds them."""
        ...

    def owners(self) -> UsbOwners:
        """Who holds which device, from every guest's live and saved XML."""
        ...

    def guest_states(self) -> dict[str, bool]:
        """{guest name: running} for every guest."""
        ...

    def watch_guests(self, callback: GuestEventCallback) -> Callable[[], None]:
        """Register for lifecycle events (the headless runner; the TUI has its own host
        controller). ``callback`` runs on libvirt's event loop. Returns the unregister call
        (blocking too)."""
        ...


class DeviceFeed(Protocol):
    """The USB devices of a host, live: pyudev on this machine, node devices of a remote one."""

    def start(self, loop: asyncio.AbstractEventLoop, on_events: EventsCallback) -> list[UsbDevice]:
        """Start following; return the devices present now. ``on_events`` runs on ``loop``."""
        ...

    def stop(self) -> None:
        """Stop following. Never blocks (a remote feed unregisters in a daemon thread)."""
        ...

    def devices(self) -> list[UsbDevice]: ...

    @property
    def note(self) -> str:
        """How the feed falls short, "" when it does not (a remote host that refuses
        node-device events: it lists them every few seconds instead)."""
        ...


class BlockingRunner(Protocol):
    """Runs ``fn`` off the loop's thread; ``done(result)`` or ``failed(exc)`` then run on the
    loop's thread (``failed`` returns True when it handled the error). The shape of
    :meth:`tui.core.runner.Runner.submit`, which both the TUI and the headless runner use."""

    def submit(
        self,
        name: str,
        fn: Callable[[], Any],
        done: Callable[[Any], None] | None = None,
        failed: Callable[[BaseException], bool | None] | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class UsbServices:
    """Factories for the USB adapters, built by the composition root (``tui/cli``)."""

    local_feed: Callable[[], DeviceFeed]
    remote_feed: Callable[[Any], DeviceFeed]  # an opaque libvirt connection
    hostdev: Callable[[Any], HostdevPort]
    # Can this machine show USB (a bus in sysfs, a udev daemon, read access)? Reads files.
    local_status: Callable[[], UsbHostStatus]
    # Does this connection's host show its USB through libvirt node devices (a remote host, or
    # the demo's test driver) rather than through pyudev here? Never blocks.
    uses_node_devices: Callable[[Any], bool]
    # For ``kvmdeck rules --run``, which has no host controller of its own:
    open_connection: Callable[[str | None, bool], Any]  # (uri, readonly) -> connection; blocks
    close_connection: Callable[[Any], None]  # blocks
    register_event_loop: Callable[[], object]  # libvirt events on the running asyncio loop


__all__ = [
    "BlockingRunner",
    "DeviceFeed",
    "EventsCallback",
    "GuestEventCallback",
    "HostdevPort",
    "UsbServices",
]
