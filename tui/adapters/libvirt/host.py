"""One host's libvirt connection for the core (implements ``tui.core.ports.HostBackend``).

Every method may block and is called from a daemon thread by the core, never from the UI's
thread: open (connect, keepalive, close callback, event registration), poll, act, close.
libvirt's callbacks (lifecycle, device, close) arrive on the event loop through libvirtaio.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import libvirt

from tui.adapters.libvirt.addresses import AddressReader
from tui.adapters.libvirt.connection import (
    ConnectFailed,
    is_remote,
    is_test_driver,
    link_is_dead,
    open_connection,
)
from tui.adapters.libvirt.events import make_device, make_lifecycle
from tui.adapters.libvirt.families import libvirt_capabilities
from tui.adapters.libvirt.session import HostSession
from tui.core.ports import NO_CAPABILITIES, HostCapabilities
from tui.model.addresses import AddressMap
from tui.model.backend import BackendError, HostEvents
from tui.model.host import PollResult

log = logging.getLogger(__name__)

# libvirt closes a connection whose peer missed this many keepalives this many seconds apart:
# a hung host is noticed in about 3 * (2 + 1) = 9 s, with the event loop running.
KEEPALIVE = (3, 2)
CLOSE_REASONS = {0: "error", 1: "end of file", 2: "keepalive timeout", 3: "client request"}


class LibvirtHost:
    def __init__(
        self, uri: str | None, readonly: bool, events: HostEvents, host_cpus: int | None = None
    ) -> None:
        self.uri = uri
        self.readonly = readonly
        self.events = events
        self.hostname = ""
        self._conn: libvirt.virConnect | None = None
        self._closing = False
        self._callback_ids: list[int] = []
        self._lock = threading.Lock()
        self.session = HostSession(self, host_cpus=host_cpus)  # type: ignore[arg-type]
        self.address_reader = AddressReader(agent=not readonly)
        self._capabilities = NO_CAPABILITIES

    # -- what HostSession needs of a "link" ---------------------------------------------
    @property
    def conn(self) -> libvirt.virConnect | None:
        return self._conn

    @property
    def is_test(self) -> bool:
        return is_test_driver(self.uri)

    @property
    def remote(self) -> bool:
        return is_remote(self.uri)

    @property
    def test_driver(self) -> bool:
        return self.is_test

    def mark_lost(self, error: str) -> None:  # HostSession calls it; the core decides
        log.info("%s: call failed on a dead connection: %s", self.uri, error)

    def mark_stale(self, uuid: str | None = None) -> None:
        self.session.mark_stale(uuid)

    # -- blocking calls --------------------------------------------------------------------
    def open(self) -> None:
        try:
            conn = open_connection(self.uri, self.readonly)
        except ConnectFailed as exc:
            raise BackendError(str(exc), failure=getattr(exc, "failure", None)) from exc
        try:
            self.hostname = conn.getHostname()
        except libvirt.libvirtError:
            self.hostname = self.uri or "localhost"
        if not self.is_test:
            try:
                conn.setKeepAlive(*KEEPALIVE)
            except libvirt.libvirtError as exc:  # local unix sockets may refuse
                log.debug("keepalive not available on %s: %s", self.uri, exc)
        with contextlib.suppress(libvirt.libvirtError):
            conn.registerCloseCallback(self._closed, None)
        self._conn = conn
        self._register_events(conn)
        self.session.mark_stale()
        self._capabilities = libvirt_capabilities(self)

    def capabilities(self) -> HostCapabilities:
        """Its families, bound to this host's connection (tui/adapters/libvirt/families.py);
        none before open()."""
        return self._capabilities

    def _register_events(self, conn: libvirt.virConnect) -> None:
        uri = self.uri
        session = self.session

        def lifecycle(
            _c: object, dom: libvirt.virDomain, event: int, detail: int, _o: object
        ) -> None:
            try:
                ev = make_lifecycle(uri, dom, event, detail)
            except libvirt.libvirtError:
                return
            session.note_event(ev.uuid, ev.kind, ev.wall)
            self.events.lifecycle(ev)

        def device(added: bool) -> Any:
            def cb(_c: object, dom: libvirt.virDomain, alias: str, _o: object) -> None:
                try:
                    ev = make_device(uri, dom, alias, added)
                except libvirt.libvirtError:
                    return
                session.mark_stale(ev.uuid)
                self.events.device(ev)

            return cb

        ids = [
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None
            )
        ]
        for ev_id, added in (
            (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, True),
            (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, False),
        ):
            with contextlib.suppress(libvirt.libvirtError):
                ids.append(conn.domainEventRegisterAny(None, ev_id, device(added), None))
        self._callback_ids = ids

    def _closed(self, _conn: libvirt.virConnect, reason: int, _opaque: object) -> None:
        """libvirt's close callback (on the event loop)."""
        if not self._closing:
            self.events.lost(CLOSE_REASONS.get(reason, str(reason)))

    def poll(self, columns: tuple[str, ...]) -> PollResult:
        conn = self._conn
        if conn is None:
            raise BackendError("not connected", lost=True)
        try:
            return self.session.poll(columns)
        except libvirt.libvirtError as exc:
            raise BackendError(
                exc.get_error_message() or str(exc), lost=link_is_dead(conn)
            ) from exc

    def act(self, uuid: str, verb: str) -> None:
        conn = self._conn
        if conn is None:
            raise BackendError("not connected", lost=True)
        try:
            dom = conn.lookupByUUIDString(uuid)
            calls = {
                "start": dom.create,
                "shutdown": dom.shutdown,
                "reboot": lambda: dom.reboot(0),
                "pause": dom.suspend,
                "resume": dom.resume,
                "destroy": dom.destroy,
            }
            calls[verb]()
        except libvirt.libvirtError as exc:
            raise BackendError(exc.get_error_message() or str(exc)) from exc

    def addresses(self, uuids: tuple[str, ...]) -> AddressMap:
        """Each guest's addresses: the agent, then leases, then ARP (see addresses.py)."""
        conn = self._conn
        if conn is None:
            raise BackendError("not connected", lost=True)
        self.address_reader.forget(uuids)
        try:
            return self.address_reader.read(conn, uuids)
        except libvirt.libvirtError as exc:
            raise BackendError(
                exc.get_error_message() or str(exc), lost=link_is_dead(conn)
            ) from exc

    def close(self) -> None:
        self._closing = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        for cid in self._callback_ids:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(cid)
        with contextlib.suppress(libvirt.libvirtError):
            conn.unregisterCloseCallback()
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
