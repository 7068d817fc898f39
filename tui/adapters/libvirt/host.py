"""One host's libvirt connection for the core (implements ``tui.core.ports.HostBackend``).

Every method may block and is called from a daemon thread by the core, never from the UI's
thread: open (connect, keepalive, close callback, event registration), poll, act, close.
libvirt's lifecycle and device callbacks arrive on the event loop through libvirtaio; its close
callback in whichever thread notices the loss (the core hands it to the loop).

**A connection is freed only when nothing uses it.** The core abandons a host that does not
answer and closes its connection in a daemon thread, while the call that hung (a poll, an open,
an agent query) may still be inside libvirt on it. ``virConnectClose`` from one thread while
another is in a call on the same connection frees what that call still uses: the segfault in
libvirt.so when a host hung for 200 s answered again (issue 24). So every call here is counted
(:meth:`LibvirtHost.using`; the agent calls that the address reader abandons after 5 s count
until their thread ends), and a close first makes new calls fail, deregisters the callbacks,
then waits for the calls in flight before it frees the connection. A call that never returns
keeps its connection open for the process's exit. The capability families
(tui/adapters/libvirt/families.py, storage.py, networks.py, provision*.py) take the connection
through :meth:`using` too, for each call's whole duration (an upload or a clone included); a
family that registers callbacks of its own (the USB node-device feed) hands their
deregistration to :meth:`add_release`, which the close runs before it waits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
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

# Client keepalive is switched off (libvirt.conf would start it at 5 s x 5). When it closes a
# connection whose peer went silent while several threads had calls on it, libvirt 9's client
# leaves GSource watches behind that point into the stack of the thread that was polling; the
# next thread that polls the socket dispatches them once the peer answers again: SIGSEGV in
# libvirt.so about a second after a hung host (SIGSTOP) was continued (issue 24). Without it a
# silent peer is noticed by the core's own deadline (NO_ANSWER_S on every connect and poll),
# the connection is abandoned, and its calls end whenever the peer answers or the socket closes.
KEEPALIVE_OFF = (-1, 0)
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
        self._releases: list[Callable[[libvirt.virConnect], None]] = []  # add_release
        self._lock = threading.Lock()
        self._idle = threading.Condition()  # guards _calls, _closing and _conn's hand-over
        self._calls = 0  # calls in flight on the connection (open, poll, act, addresses)
        self.closed_at: float | None = None  # when close() really closed the connection
        self.session = HostSession(self, host_cpus=host_cpus)  # type: ignore[arg-type]
        self.address_reader = AddressReader(agent=not readonly, hold=self._hold)
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
        """Connect. Not counted as a call: nobody else sees the connection until it is
        handed out, and a close that came meanwhile is done here (never handed out)."""
        if self._closing:
            raise BackendError("closed", lost=True)
        self._open()

    def _open(self) -> None:
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
                conn.setKeepAlive(*KEEPALIVE_OFF)
            except libvirt.libvirtError as exc:
                log.debug("keepalive not switched off on %s: %s", self.uri, exc)
        with contextlib.suppress(libvirt.libvirtError):
            conn.registerCloseCallback(self._closed, None)
        with self._idle:
            abandoned = self._closing
            if not abandoned:
                self._conn = conn
        if abandoned:  # closed while opening (no answer in time): never handed out
            self._close_later(conn, registered=True)
            raise BackendError("closed while opening", lost=True)
        self._register_events(conn)
        self.session.mark_stale()
        self._capabilities = libvirt_capabilities(self)

    @contextlib.contextmanager
    def using(self) -> Iterator[libvirt.virConnect]:
        """The connection, counted as in use until the block ends; "not connected" (lost)
        once a close began. Every call on the connection goes through here."""
        with self._idle:
            conn = self._conn
            if conn is None or self._closing:
                raise BackendError("not connected", lost=True)
            self._calls += 1
        try:
            yield conn
        finally:
            self._leave()

    def _hold(self) -> Callable[[], None]:
        """Count a call that runs on in a thread of its own (an abandoned agent call) until
        the returned release is called."""
        with self._idle:
            self._calls += 1
        return self._leave

    def add_release(self, release: Callable[[libvirt.virConnect], None]) -> bool:
        """Have the close call ``release(conn)`` (deregister a family's callbacks) before it
        waits for the calls in flight. Call it inside :meth:`using`, right after registering;
        False when a close began already: the caller then releases at once itself (its
        ``using`` block keeps the connection open meanwhile)."""
        with self._idle:
            if self._closing:
                return False
            self._releases.append(release)
            return True

    def _leave(self) -> None:
        with self._idle:
            self._calls -= 1
            self._idle.notify_all()

    @property
    def calls_in_flight(self) -> int:  # tests
        return self._calls

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
        with self.using() as conn:
            try:
                return self.session.poll(columns)
            except libvirt.libvirtError as exc:
                raise BackendError(
                    exc.get_error_message() or str(exc), lost=link_is_dead(conn)
                ) from exc

    def act(self, uuid: str, verb: str) -> None:
        with self.using() as conn:
            self._act(conn, uuid, verb)

    def _act(self, conn: libvirt.virConnect, uuid: str, verb: str) -> None:
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
        with self.using() as conn:
            self.address_reader.forget(uuids)
            try:
                return self.address_reader.read(conn, uuids)
            except libvirt.libvirtError as exc:
                raise BackendError(
                    exc.get_error_message() or str(exc), lost=link_is_dead(conn)
                ) from exc

    def close(self) -> None:
        """Blocks until nothing uses the connection (run it in a daemon thread nobody waits
        for). New calls fail at once; an open in progress closes its own connection."""
        with self._idle:
            self._closing = True
            conn, self._conn = self._conn, None
        self._capabilities = NO_CAPABILITIES
        if conn is not None:
            self._close_later(conn, registered=True)

    def _close_later(self, conn: libvirt.virConnect, registered: bool) -> None:
        ids, self._callback_ids = self._callback_ids, []
        for cid in ids:  # RPCs beside a call in flight: allowed; on a dead link they fail fast
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(cid)
        with self._idle:
            releases, self._releases = self._releases, []
        for release in releases:  # the families' callbacks (the USB node-device feed)
            try:
                release(conn)
            except Exception:  # one family's failure must not keep the others registered
                log.exception("%s: a family's release failed", self.uri)
        if registered:
            with contextlib.suppress(libvirt.libvirtError):
                conn.unregisterCloseCallback()
        with self._idle:  # our own calls: poll, act, addresses, open
            if self._calls:
                log.info("%s: close waits for %d call(s) in flight", self.uri, self._calls)
            while self._calls:
                self._idle.wait()
        self.address_reader.drop()  # its cache of the connection's domains
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
        self.closed_at = time.monotonic()
