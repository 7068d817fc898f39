"""A libvirt host's capability families (:class:`tui.core.ports.HostCapabilities`).

:func:`libvirt_capabilities` builds them for a :class:`~tui.adapters.libvirt.host.LibvirtHost`
once its connection is open. Each family holds the host, not a connection: it reads the live
connection at each call and says "not connected" when it is gone. Every method blocks (libvirt
RPCs; call it from the runner) and turns the adapters' own errors into
:class:`~tui.model.backend.BackendError`. The heavy modules (the launcher, snapshots, SPICE-ready,
the USB probes) load on first use, not at start-up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit

from tui.adapters.libvirt.connection import is_remote, is_test_driver
from tui.adapters.libvirt.networks import LibvirtNetworks
from tui.adapters.libvirt.storage import LibvirtStorage
from tui.core.ports import HostCapabilities
from tui.model.backend import BackendError

if TYPE_CHECKING:
    from collections.abc import Callable

    import libvirt

    from tui.adapters.launch import Launcher
    from tui.core.ports import ViewerLauncher
    from tui.core.usb.ports import DeviceFeed, HostdevPort
    from tui.model.display import DisplayFacts, SpiceReadyPlan
    from tui.model.snapshots import SnapshotList
    from tui.model.usb import UsbDevice
    from tui.model.usb_doctor import HostProbe
    from tui.model.viewers import ConsoleResult

USB_SOURCE_ENV = "KVMDECK_USB_SOURCE"  # "nodedev": libvirt node devices even for a local URI


class Link(Protocol):
    """What a family needs of its host: the URI, the flag, and the connection of the moment."""

    uri: str | None
    readonly: bool

    @property
    def conn(self) -> libvirt.virConnect | None: ...


def _conn(link: Link) -> libvirt.virConnect:
    conn = link.conn
    if conn is None:
        raise BackendError(f"{link.uri or 'the local host'} is not connected: wait for it.")
    return conn


class LibvirtSnapshots:
    """:class:`tui.core.ports.SnapshotOps` over ``tui/adapters/libvirt/snapshots.py``."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def list(self, uuid: str) -> SnapshotList:
        from tui.adapters.libvirt import snapshots

        try:
            return snapshots.list_snapshots(_conn(self.link), uuid)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc

    def create(self, uuid: str, name: str, description: str, memory: bool) -> str:
        from tui.adapters.libvirt import snapshots

        try:
            return snapshots.create(_conn(self.link), uuid, name, description, memory)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc

    def revert(self, uuid: str, name: str) -> str:
        from tui.adapters.libvirt import snapshots

        try:
            return snapshots.revert(_conn(self.link), uuid, name)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc

    def delete(self, uuid: str, name: str) -> str:
        from tui.adapters.libvirt import snapshots

        try:
            return snapshots.delete(_conn(self.link), uuid, name)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc


class LibvirtSerial:
    """:class:`tui.core.ports.SerialConsole`: ``virsh console`` (``tui/adapters/libvirt/serial.py``)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def check(self, uuid: str) -> str:
        from tui.adapters.libvirt.serial import SerialError, check

        try:
            return check(_conn(self.link), uuid)
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
            return plan(_conn(self.link), name)
        except SpiceReadyError as exc:
            raise BackendError(str(exc)) from exc

    def apply(self, name: str, new_xml: str, base_xml: str | None) -> str:
        from tui.adapters.libvirt.spice_ready import SpiceReadyError, apply

        try:
            return apply(_conn(self.link), name, new_xml, base_xml)
        except SpiceReadyError as exc:
            raise BackendError(str(exc)) from exc

    def facts(self, name: str) -> DisplayFacts:
        from tui.adapters.libvirt.graphics import DisplayError, read_guest_display

        try:
            return read_guest_display(_conn(self.link), name, self.link.readonly)
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
            return open_console(
                _conn(link),
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


class LibvirtUsb:
    """:class:`tui.core.ports.UsbHostPort`: hostdevs through libvirt, node devices of a remote
    host (or the test driver), the USB doctor's probes."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._node_devices = uses_node_devices(self._uri())

    def _uri(self) -> str | None:
        """The URI the connection was opened with (virConnectGetURI formats the URI kept at
        open: no RPC, it does not block); the configured one when it is gone."""
        conn = self.link.conn
        if conn is not None:
            try:
                return str(conn.getURI())
            except Exception:  # a closed connection
                pass
        return self.link.uri

    @property
    def node_devices(self) -> bool:
        return self._node_devices

    def hostdev(self) -> HostdevPort:
        from tui.adapters.libvirt.hostdev import LibvirtHostdev

        return LibvirtHostdev(self.link.conn)

    def device_feed(self) -> DeviceFeed:
        from tui.adapters.libvirt.nodedev import RemoteUsbFeed

        return RemoteUsbFeed(_conn(self.link))

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
        storage=LibvirtStorage(lambda: _conn(link)),
        networks=LibvirtNetworks(lambda: _conn(link)),
        provisioning=LibvirtProvisioning(lambda: link.conn, is_remote(link.uri)),
    )


__all__ = [
    "USB_SOURCE_ENV",
    "LibvirtConsoles",
    "LibvirtSerial",
    "LibvirtSnapshots",
    "LibvirtSpiceReady",
    "LibvirtUsb",
    "libvirt_capabilities",
    "usb_probe",
    "uses_node_devices",
]
