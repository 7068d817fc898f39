"""What the core needs from the outside world, as Protocols. The adapters implement them and
``tui/cli/wiring.py`` (the composition root) plugs them in, so the core and the UI import no
libvirt, psutil or pyudev, not even indirectly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tui.model.addresses import AddressMap
from tui.model.backend import BackendError, HostEvents
from tui.model.host import HostSample, PollResult

__all__ = ["BackendError", "HostBackend", "HostEvents", "HostSampler", "Services", "SnapshotOps"]

if TYPE_CHECKING:
    from tui.model.display import SpiceReadyPlan
    from tui.model.snapshots import SnapshotList
    from tui.model.vt import VtReport


class HostBackend(Protocol):
    """One host's hypervisor connection. Every method but the properties may block: the core
    calls them from daemon threads only, and abandons a call that does not answer."""

    uri: str | None
    hostname: str

    @property
    def conn(self) -> Any: ...  # opaque handle for features that need the raw connection

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


class SnapshotOps(Protocol):
    """A guest's snapshots (blocking, from the runner); errors are BackendError."""

    def list(self, conn: Any, uuid: str) -> SnapshotList: ...

    def create(self, conn: Any, uuid: str, name: str, description: str, memory: bool) -> str: ...

    def revert(self, conn: Any, uuid: str, name: str) -> str: ...

    def delete(self, conn: Any, uuid: str, name: str) -> str: ...


class HostSampler(Protocol):
    def sample(self) -> HostSample: ...


@dataclass
class Services:
    """Factories for everything outside: made by tui/cli/wiring.py, used by core and UI."""

    host_backend: Callable[[str | None, bool, HostEvents], HostBackend]
    host_sampler: Callable[[bool], HostSampler]
    host_cpus: Callable[[], int]
    vt_probe: Callable[[str | None], VtReport]
    register_event_loop: Callable[[], None]
    is_test_uri: Callable[[str | None], bool]
    is_remote_uri: Callable[[str | None], bool]
    display_uri: Callable[[str | None], str]
    launcher: Callable[..., Any] | None = None  # tui.adapters.launch.Launcher(on_change=…)
    open_console: Callable[..., Any] | None = None
    usb: Any = None  # tui.core.usb.ports.UsbServices
    # make SPICE-ready (blocking, from the runner): (conn, guest) -> tui.model.display.SpiceReadyPlan,
    # and (conn, guest, new_xml, base_xml) -> the message to show. Errors are BackendError.
    spice_ready_plan: Callable[[Any, str], SpiceReadyPlan] | None = None
    spice_ready_apply: Callable[[Any, str, str, str | None], str] | None = None
    # the serial console: (conn, uuid) -> guest name, BackendError saying why it cannot open
    # (blocking); (uri, uuid) -> (argv, env) of the program to run in the terminal
    serial_check: Callable[[Any, str], str] | None = None
    serial_command: Callable[[str | None, str], tuple[list[str], dict[str, str]]] | None = None
    snapshots: SnapshotOps | None = None
    extra: dict[str, Any] = field(default_factory=dict)
