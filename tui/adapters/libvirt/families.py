"""A libvirt host's capability families (:class:`tui.core.ports.HostCapabilities`).

:func:`libvirt_capabilities` builds them for a :class:`~tui.adapters.libvirt.host.LibvirtHost`
once its connection is open. Each family holds the host, not a connection: each call takes the
connection through :meth:`LibvirtHost.using` for its whole duration (counted: a close waits
for it before it frees the connection, issue 24) and says "not connected" when it is gone or
closing. Every method blocks (libvirt
RPCs; call it from the runner) and turns the adapters' own errors into
:class:`~tui.model.backend.BackendError`. The heavy modules (the launcher, snapshots, SPICE-ready,
the USB probes) load on first use, not at start-up.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, TypeVar, cast
from urllib.parse import urlsplit

from tui.adapters.libvirt.connection import is_remote, is_test_driver
from tui.adapters.libvirt.held import leave_quietly
from tui.adapters.libvirt.networks import LibvirtNetworks
from tui.adapters.libvirt.storage import LibvirtStorage
from tui.core.ports import HostCapabilities
from tui.model.backend import BackendError

if TYPE_CHECKING:
    from collections.abc import Callable

    import libvirt

    from tui.adapters.launch import Launcher
    from tui.adapters.libvirt.hostdev import LibvirtHostdev
    from tui.core.ports import ViewerLauncher
    from tui.core.usb.ports import DeviceFeed, HostdevPort
    from tui.model.display import DisplayFacts, SpiceReadyPlan
    from tui.model.domain import UsbHostdev
    from tui.model.snapshots import SnapshotList
    from tui.model.usb import GuestUsb, HostdevResult, UsbDevice, UsbOwners
    from tui.model.usb_doctor import HostProbe
    from tui.model.viewers import ConsoleResult

R = TypeVar("R")

USB_SOURCE_ENV = "KVMDECK_USB_SOURCE"  # "nodedev": libvirt node devices even for a local URI


class Link(Protocol):
    """What a family needs of its host: the URI, the flag, the connection of the moment
    (:attr:`conn`: for its URI only, no call on it) and :meth:`using` (the connection, counted
    while the block runs; BackendError once it is gone or a close began)."""

    uri: str | None
    readonly: bool

    @property
    def conn(self) -> libvirt.virConnect | None: ...

    def using(self) -> AbstractContextManager[libvirt.virConnect]: ...

    def add_release(self, release: Callable[[libvirt.virConnect], None]) -> bool: ...


def using(link: Link) -> AbstractContextManager[libvirt.virConnect]:
    """``link.using()`` with the families' message when the host is not connected."""
    return _Using(link)


class _Using:
    """Not a generator manager: see tui/adapters/libvirt/held.py (_Hold)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._cm: AbstractContextManager[libvirt.virConnect] | None = None

    def __enter__(self) -> libvirt.virConnect:
        cm = self.link.using()
        try:
            conn = cm.__enter__()
        except BackendError as exc:
            raise BackendError(
                f"{self.link.uri or 'the local host'} is not connected: wait for it."
            ) from exc
        self._cm = cm
        return conn

    def __exit__(self, *_exc: object) -> None:
        cm, self._cm = self._cm, None
        if cm is not None:
            leave_quietly(cm)


class LibvirtSnapshots:
    """:class:`tui.core.ports.SnapshotOps` over ``tui/adapters/libvirt/snapshots.py``."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def list(self, uuid: str) -> SnapshotList:
        from tui.adapters.libvirt import snapshots

        try:
            with using(self.link) as conn:
                return snapshots.list_snapshots(conn, uuid)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc

    def create(self, uuid: str, name: str, description: str, memory: bool) -> str:
        from tui.adapters.libvirt import snapshots

        try:
            with using(self.link) as conn:
                return snapshots.create(conn, uuid, name, description, memory)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc

    def revert(self, uuid: str, name: str) -> str:
        from tui.adapters.libvirt import snapshots

        try:
            with using(self.link) as conn:
                return snapshots.revert(conn, uuid, name)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc

    def delete(self, uuid: str, name: str) -> str:
        from tui.adapters.libvirt import snapshots

        try:
            with using(self.link) as conn:
                return snapshots.delete(conn, uuid, name)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc


class LibvirtSerial:
    """:class:`tui.core.ports.SerialConsole`: ``virsh console`` (``tui/adapters/libvirt/serial.py``)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def check(self, uuid: str) -> str:
        from tui.adapters.libvirt.serial import SerialError, check

        try:
            with using(self.link) as conn:
                return check(conn, uuid)
        except SerialError as exc:
            raise BackendError(str(exc)) from exc

    def command(
        self, uuid: str, ssh_command: Callable[[str | None], str | None] | None = None
    ) -> tuple[list[str], dict[str, str]]:
        from tui.adapters.libvirt.serial import SerialError, command

        try:
            return command(self.link.uri, uuid, ssh_command)
        except SerialError as exc:
            raise BackendError(str(exc)) from exc


class LibvirtSpiceReady:
    """:class:`tui.core.ports.SpiceReady` (``tui/adapters/libvirt/spice_ready.py``)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def plan(self, name: str) -> SpiceReadyPlan:
        from tui.adapters.libvirt.spice_ready import SpiceReadyError, plan

        try:
            with using(self.link) as conn:
                return plan(conn, name)
        except SpiceReadyError as exc:
            raise BackendError(str(exc)) from exc

    def apply(self, name: str, new_xml: str, base_xml: str | None) -> str:
        from tui.adapters.libvirt.spice_ready import SpiceReadyError, apply

        try:
            with using(self.link) as conn:
                return apply(conn, name, new_xml, base_xml)
        except SpiceReadyError as exc:
            raise BackendError(str(exc)) from exc

    def facts(self, name: str) -> DisplayFacts:
        from tui.adapters.libvirt.graphics import DisplayError, read_guest_display

        try:
            with using(self.link) as conn:
                return read_guest_display(conn, name, self.link.readonly)
        except DisplayError as exc:
            raise BackendError(str(exc)) from exc


class LibvirtConsoles:
    """:class:`tui.core.ports.ConsoleOpener`: remote-viewer (``tui/adapters/launch``)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def open(
        self, name: str, launcher: ViewerLauncher, usb_redirect: list[tuple[int, int]]
    ) -> ConsoleResult:
        from tui.adapters.launch import DisplayError, LaunchError, open_console

        link = self.link
        try:  # the app's launcher is the adapters' own Launcher (tui/cli/wiring.py makes it)
            with using(link) as conn:
                return open_console(
                    conn,
                    name,
                    link.uri,
                    link.readonly,
                    cast("Launcher", launcher),
                    usb_redirect=usb_redirect,
                )
        except (DisplayError, LaunchError) as exc:
            raise BackendError(str(exc)) from exc


def uses_node_devices(uri: str | None) -> bool:
    """A remote host, or the demo's test driver: USB comes from libvirt's node devices.
    ``KVMDECK_USB_SOURCE=nodedev`` forces node devices for a local URI too (the USB lab
    checks the remote path with qemu:///system that way)."""
    forced = os.environ.get(USB_SOURCE_ENV, "").strip().lower() == "nodedev"
    return forced or is_remote(uri) or is_test_driver(uri)


def usb_probe(uri: str | None, device: UsbDevice | None) -> HostProbe:
    """The USB doctor's host probes: files and the kernel log of this machine only (a remote
    host's are not readable from here; the demo's devices have none); ``device`` None: the
    host's report (``/dev/bus/usb`` itself). Blocks."""
    from tui.model.usb_doctor import DEMO, REMOTE, HostProbe

    uri = uri or ""
    if is_test_driver(uri):
        return HostProbe(DEMO)
    if is_remote(uri):
        return HostProbe(REMOTE)
    from tui.adapters.local.usbprobe import probe_device, probe_host

    session = urlsplit(uri).path.rstrip("/") == "/session"
    return probe_device(device, session=session) if device else probe_host(session=session)


class CountedHostdev:
    """:class:`tui.core.usb.ports.HostdevPort`: each call a :class:`LibvirtHostdev` on the
    host's counted connection (on none when it is gone or closing: "not-connected")."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def _call(self, fn: Callable[[LibvirtHostdev], R]) -> R:
        """``fn`` on a port over the counted connection (see held.py's _Hold for why no
        generator manager)."""
        from tui.adapters.libvirt.hostdev import LibvirtHostdev

        cm = self.link.using()
        try:
            conn = cm.__enter__()
        except BackendError:
            return fn(LibvirtHostdev(None))  # its own "not-connected" HostdevError
        try:
            return fn(LibvirtHostdev(conn))
        finally:
            leave_quietly(cm)

    def inspect(self, guest: str) -> GuestUsb:
        return self._call(lambda port: port.inspect(guest))

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
        return self._call(
            lambda port: port.apply_attach(
                guest, dev, live=live, config=config, config_address=config_address, note=note
            )
        )

    def apply_detach(
        self,
        guest: str,
        dev: UsbDevice,
        *,
        live_entry: UsbHostdev | None,
        config_entry: UsbHostdev | None,
    ) -> HostdevResult:
        return self._call(
            lambda port: port.apply_detach(
                guest, dev, live_entry=live_entry, config_entry=config_entry
            )
        )

    def owners(self) -> UsbOwners:
        return self._call(lambda port: port.owners())

    def guest_states(self) -> dict[str, bool]:
        return self._call(lambda port: port.guest_states())

    def watch_guests(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        """Registered on the counted connection; deregistered once, by the returned call or
        by the host's close (``add_release``), whichever comes first."""
        from tui.adapters.libvirt.hostdev import LibvirtHostdev

        lock = threading.Lock()
        pending = [True]

        with using(self.link) as conn:
            unregister = LibvirtHostdev(conn).watch_guests(callback)

            def release(_conn: object) -> None:
                with lock:
                    if not pending[0]:
                        return
                    pending[0] = False
                unregister()

            if not self.link.add_release(release):
                release(conn)  # a close began meanwhile

        def stop() -> None:
            with contextlib.suppress(BackendError), self.link.using():
                release(None)

        return stop


class LibvirtUsb:
    """:class:`tui.core.ports.UsbHostPort`: hostdevs through libvirt, node devices of a remote
    host (or the test driver), the USB doctor's probes."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._node_devices = uses_node_devices(self._uri())

    def _uri(self) -> str | None:
        """The URI the connection was opened with (virConnectGetURI formats the URI kept at
        open: no RPC, it does not block); the configured one when it is gone."""
        try:
            with self.link.using() as conn:
                return str(conn.getURI())
        except Exception:  # not connected, or closing
            return self.link.uri

    @property
    def node_devices(self) -> bool:
        return self._node_devices

    def hostdev(self) -> HostdevPort:
        return CountedHostdev(self.link)

    def device_feed(self) -> DeviceFeed:
        """Node-device events: each call of the feed holds the connection, and the host's
        close deregisters its callback first (``add_release``)."""
        from tui.adapters.libvirt.nodedev import RemoteUsbFeed

        link = self.link
        with using(link) as conn:
            pass  # "not connected" now, rather than in the worker that starts the feed
        return RemoteUsbFeed(conn, using=lambda: using(link), add_release=link.add_release)

    def probe(self, device: UsbDevice | None) -> HostProbe:
        return usb_probe(self._uri(), device)


def libvirt_capabilities(link: Link) -> HostCapabilities:
    """The families of a libvirt host, bound to ``link`` (a LibvirtHost)."""
    from tui.adapters.libvirt.provision import LibvirtProvisioning

    return HostCapabilities(
        snapshots=LibvirtSnapshots(link),
        serial=LibvirtSerial(link),
        spice_ready=LibvirtSpiceReady(link),
        consoles=LibvirtConsoles(link),
        usb=LibvirtUsb(link),
        storage=LibvirtStorage(lambda: using(link)),
        networks=LibvirtNetworks(lambda: using(link)),
        provisioning=LibvirtProvisioning(lambda: using(link), is_remote(link.uri)),
    )


__all__ = [
    "USB_SOURCE_ENV",
    "CountedHostdev",
    "LibvirtConsoles",
    "LibvirtSerial",
    "LibvirtSnapshots",
    "LibvirtSpiceReady",
    "LibvirtUsb",
    "libvirt_capabilities",
    "usb_probe",
    "uses_node_devices",
]
