"""What the core and the UI need from the outside world, as Protocols. The adapters implement
them and ``tui/cli/wiring.py`` (the composition root) plugs them in, so the core and the UI
import no libvirt, psutil or pyudev, not even indirectly.

A host's abilities are its :class:`HostCapabilities`: typed families of blocking operations,
each bound to the host's live connection by the backend (:meth:`HostBackend.capabilities`),
each ``None`` when the host lacks it (the UI offers only the actions whose family is there).
Every family method blocks: the UI calls it only through ``app.runner.submit(...)``. It takes
plain values (uuids, names, model dataclasses), never a connection, and raises
:class:`BackendError` with a message that names the thing and the fix.

This module imports only ``tui.model`` at run time: the adapters import it (the ports they
implement, see the import-linter contracts in pyproject.toml), nothing else of the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tui.model.addresses import AddressMap
from tui.model.backend import BackendError, HostEvents
from tui.model.host import HostSample, PollResult
from tui.model.viewers import ConsoleResult, ViewerInfo

__all__ = [
    "BackendError",
    "ConsoleOpener",
    "HostBackend",
    "HostCapabilities",
    "HostEvents",
    "HostSampler",
    "NetworkOps",
    "Provisioning",
    "SerialConsole",
    "Services",
    "SnapshotOps",
    "SpiceReady",
    "StorageOps",
    "UsbHostPort",
    "ViewerLauncher",
]

if TYPE_CHECKING:
    from tui.core.usb.ports import DeviceFeed, HostdevPort, UsbServices
    from tui.model.display import DisplayFacts, SpiceReadyPlan
    from tui.model.jobs import ProgressFn
    from tui.model.network import Lease, Network
    from tui.model.provision import (
        CreateChoices,
        Created,
        DeletePlan,
        FieldProblem,
        GuestEdit,
        GuestSettings,
        GuestSpec,
        OsChoice,
        OsDefaults,
    )
    from tui.model.snapshots import SnapshotList
    from tui.model.storage import CdromDrive, Pool, Volume
    from tui.model.usb import UsbDevice
    from tui.model.usb_doctor import HostProbe
    from tui.model.vt import VtReport


# -- one host --------------------------------------------------------------------------------
class HostBackend(Protocol):
    """One host's hypervisor connection. Every method but the properties may block: the core
    calls them from daemon threads only, and abandons a call that does not answer. No
    connection handle leaves it: what a host can do beyond polling and acting on guests is in
    :meth:`capabilities`."""

    uri: str | None
    hostname: str

    @property
    def remote(self) -> bool: ...

    @property
    def test_driver(self) -> bool: ...

    def open(self) -> None: ...  # connect, keepalive, close callback, event registration

    def poll(self, columns: tuple[str, ...]) -> PollResult: ...

    def act(self, uuid: str, verb: str) -> None: ...

    # Guest IP addresses (agent, then leases, then ARP); slow for a stuck agent: its own lane.
    def addresses(self, uuids: tuple[str, ...]) -> AddressMap: ...

    def close(self) -> None: ...

    def mark_stale(self, uuid: str | None = None) -> None: ...  # thread-safe

    def capabilities(self) -> HostCapabilities:
        """The families this host offers, bound to its live connection. Never blocks (built
        by ``open()``); empty before ``open()``."""
        ...


# -- snapshots -------------------------------------------------------------------------------
class SnapshotOps(Protocol):
    """A guest's snapshots (blocking, from the runner); errors are BackendError."""

    def list(self, uuid: str) -> SnapshotList: ...

    def create(self, uuid: str, name: str, description: str, memory: bool) -> str: ...

    def revert(self, uuid: str, name: str) -> str: ...

    def delete(self, uuid: str, name: str) -> str: ...


# -- the serial console ----------------------------------------------------------------------
class SerialConsole(Protocol):
    """A guest's serial console through ``virsh console`` in kvmdeck's terminal."""

    def check(self, uuid: str) -> str:
        """The guest's name; BackendError saying why its console cannot open. Blocks."""
        ...

    def command(
        self, uuid: str, ssh_command: Callable[[str | None], str | None] | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """(argv, env) of the program to run in the terminal. ``ssh_command``: the
        launcher's :meth:`ViewerLauncher.ssh_command`, so a ``qemu+ssh://`` console rides
        the host's one ssh connection. Blocks."""
        ...


# -- make a guest SPICE-ready ----------------------------------------------------------------
class SpiceReady(Protocol):
    """The display doctor's S key: what to add to a guest's saved config, then do it."""

    def plan(self, name: str) -> SpiceReadyPlan: ...

    def apply(self, name: str, new_xml: str, base_xml: str | None) -> str:
        """Define ``new_xml`` if the saved config is still ``base_xml``; the message to show."""
        ...

    def facts(self, name: str) -> DisplayFacts:
        """What the display doctor reads (live XML with the password's presence on a
        read-write connection; a running guest's saved config too), as ``doctor --guest``."""
        ...


# -- graphical consoles (remote-viewer) ------------------------------------------------------
class ViewerLauncher(Protocol):
    """The one launcher of external programs (``tui.adapters.launch.Launcher``), app-wide:
    what the UI reads and drives of it. Its methods may block briefly (process signals)."""

    def viewers(self) -> list[ViewerInfo]: ...

    def close(self, viewer: ViewerInfo | int) -> ViewerInfo | None: ...

    def shutdown(self, keep_viewers: bool | None = None, grace_s: float | None = None) -> None: ...

    def ssh_command(self, uri: str | None) -> str | None:
        """An ssh command for libvirt (``command=``) on the host's shared ssh connection, or
        None (not ssh, or no shared connection: libvirt's ssh connects on its own). Blocks
        while it starts that connection."""
        ...


class ConsoleOpener(Protocol):
    """Open a guest's graphical console with the app's launcher."""

    def open(
        self, name: str, launcher: ViewerLauncher, usb_redirect: list[tuple[int, int]]
    ) -> ConsoleResult:
        """Start a viewer (and a tunnel for a remote host) or, without a display here, say
        what to run on the operator's workstation. ``usb_redirect``: (vendor, product) of the
        devices the viewer redirects too. Blocks up to the viewer's connect wait."""
        ...


# -- USB of the host -------------------------------------------------------------------------
class UsbHostPort(Protocol):
    """USB on this host, bound to its connection (host 0 only, see ``tui/ui/usb_feature.py``)."""

    @property
    def node_devices(self) -> bool:
        """Its USB devices come from libvirt's node devices (a remote host, the test driver,
        or ``KVMDECK_USB_SOURCE=nodedev``), not from pyudev on this machine. Never blocks."""
        ...

    def hostdev(self) -> HostdevPort: ...

    def device_feed(self) -> DeviceFeed:
        """The node-device feed (only used when :attr:`node_devices`)."""
        ...

    def probe(self, device: UsbDevice | None) -> HostProbe | None:
        """The USB doctor's probes of the device's host (files and kernel log of this machine
        only); ``device`` None: the host's report (``/dev/bus/usb`` itself, the QEMU user, the
        kernel log). None: this host has none to run. Blocks."""
        ...


# -- issue 21: provisioning, storage, networks (their helpers fill these in) ------------------
class Provisioning(Protocol):
    """Create, clone, delete with storage, edit, edit the XML (issue 21). Every method blocks
    (call it through the runner) and raises BackendError naming the thing and the fix;
    ``SpecRefused`` (a BackendError) carries the problems by form field, ``JobCancelled``
    follows a cancel, ``XmlDefineFailed`` a define libvirt refused. A failed or cancelled
    create or clone has removed what it made, and its message says what."""

    def os_list(self) -> tuple[OsChoice, ...]: ...  # this machine's osinfo-db

    def os_defaults(self, short_id: str) -> OsDefaults: ...

    def operator_keys(self) -> tuple[str, ...]: ...  # ssh public keys here (~/.ssh, agent)

    def choices(self) -> CreateChoices: ...

    def ensure_default_pool(self) -> str: ...

    def check(self, spec: GuestSpec) -> list[FieldProblem]: ...

    def create(self, spec: GuestSpec, progress: ProgressFn = ...) -> Created: ...

    def clone(
        self, uuid: str, new_name: str, linked: bool, progress: ProgressFn = ...
    ) -> Created: ...

    def delete_plan(self, uuid: str) -> DeletePlan: ...

    def delete(self, uuid: str) -> str: ...

    def settings(self, uuid: str) -> GuestSettings: ...

    def edit(self, uuid: str, change: GuestEdit) -> str: ...

    def xml(self, uuid: str) -> str: ...  # saved config with secrets, as virsh edit shows it

    def define_xml(self, uuid: str, new_xml: str, base_xml: str) -> str: ...


class StorageOps(Protocol):
    """A host's storage pools and volumes, uploads, and CD-ROM media. Every method blocks (call
    it through ``app.runner.submit``), raises BackendError naming the thing and the fix, and
    returns what to tell the operator (mutations) or model values (reads)."""

    def pools(self) -> tuple[Pool, ...]: ...  # inactive ones too, by name

    def volumes(self, pool: str) -> tuple[Volume, ...]: ...  # with the guests using each

    def create_volume(self, pool: str, name: str, capacity: int, fmt: str) -> str: ...

    def resize_volume(self, pool: str, name: str, capacity: int) -> str: ...  # grows only

    def delete_volume(self, pool: str, name: str) -> str: ...  # refused while a guest uses it

    def start_pool(self, pool: str) -> str: ...

    def stop_pool(self, pool: str) -> str: ...

    def set_pool_autostart(self, pool: str, on: bool) -> str: ...

    def create_dir_pool(self, name: str, path: str) -> str: ...  # define, build, start, autostart

    # A local file into a new volume through a libvirt stream: progress(done, total) after each
    # chunk (from the worker thread), cancelled() asked between chunks; a cancelled or failed
    # upload deletes the volume it made.
    def upload(
        self,
        pool: str,
        name: str,
        source: str,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> str: ...

    def cdroms(self) -> tuple[CdromDrive, ...]: ...  # every guest's CD-ROM drives

    def insert_media(self, uuid: str, target: str, path: str) -> str: ...

    def eject_media(self, uuid: str, target: str) -> str: ...


class NetworkOps(Protocol):
    """A host's libvirt networks and DHCP leases (blocking; BackendError)."""

    def networks(self) -> tuple[Network, ...]: ...  # inactive ones too, by name

    def leases(self, network: str) -> tuple[Lease, ...]: ...  # each with its guest

    def start(self, name: str) -> str: ...

    def stop(self, name: str) -> str: ...

    def set_autostart(self, name: str, on: bool) -> str: ...

    def create_isolated(self, name: str, cidr: str, dhcp: bool = True) -> str: ...


@dataclass(frozen=True)
class HostCapabilities:
    """What one connected host can do beyond polls and guest actions. A family the host lacks
    is None, and the UI offers only the actions whose family is there. ``HostCapabilities()``
    is a host that is not up."""

    snapshots: SnapshotOps | None = None
    serial: SerialConsole | None = None
    spice_ready: SpiceReady | None = None
    consoles: ConsoleOpener | None = None
    usb: UsbHostPort | None = None
    provisioning: Provisioning | None = None
    storage: StorageOps | None = None
    networks: NetworkOps | None = None


NO_CAPABILITIES = HostCapabilities()


# -- this machine ----------------------------------------------------------------------------
class HostSampler(Protocol):
    def sample(self) -> HostSample: ...


class LauncherFactory(Protocol):
    def __call__(
        self, *, on_change: Callable[[ViewerInfo], None], keep_viewers: bool
    ) -> ViewerLauncher: ...


@dataclass
class Services:
    """Factories for everything outside: made by tui/cli/wiring.py, used by core and UI.
    What a host can do is not here: it is the host's :class:`HostCapabilities`."""

    host_backend: Callable[[str | None, bool, HostEvents], HostBackend]
    host_sampler: Callable[[bool], HostSampler]
    host_cpus: Callable[[], int]
    vt_probe: Callable[[str | None], VtReport]
    register_event_loop: Callable[[], None]
    is_test_uri: Callable[[str | None], bool]
    is_remote_uri: Callable[[str | None], bool]
    display_uri: Callable[[str | None], str]
    launcher: LauncherFactory | None = None  # tui.adapters.launch.Launcher
    usb: UsbServices | None = None  # this machine's USB feed; None: no USB at all
