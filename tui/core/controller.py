"""One controller per host: the link, its backoff, polls, events and guest actions.

No textual here. Everything runs on the event loop's thread; blocking calls go through the
:class:`~tui.core.runner.Runner` (daemon threads). The rules:

- at most one poll per host in flight (:class:`~tui.core.scheduler.SingleFlight`); an event
  during a poll marks the host dirty and the next poll follows the current one;
- a connect or a poll that does not answer within :data:`NO_ANSWER_S` is abandoned: the host is
  reported as "no answer … after 10 s", its connection is dropped (closed in a thread that
  nobody waits for) and a fresh one is tried with backoff, without delaying other hosts;
- an invalid URI is not retried;
- results of an abandoned connection (an older *generation*) are ignored;
- a backend's event callbacks (:class:`HostEvents`) may come from any thread: libvirt runs its
  close callback in whichever thread notices the loss, usually the poll thread whose call
  failed. The controller moves each one onto the loop first (tui/core/hostevents.py);
- guest IP addresses have a lane of their own (a second :class:`SingleFlight`), every
  :data:`ADDRESS_INTERVAL` s while guests run and soon after one starts: a stuck guest agent
  never delays a stats tick, and a tick never carries an address call.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tui.core.hostevents import (
    after_events,
    on_loop,
    retry_delay,
)
from tui.core.ports import NO_CAPABILITIES, BackendError, HostBackend, HostCapabilities, HostEvents
from tui.core.prefetch import Prefetch
from tui.core.runner import Runner
from tui.core.scheduler import SingleFlight
from tui.model.addresses import AddressMap
from tui.model.events import DeviceEvent, LifecycleEvent
from tui.model.host import PollResult
from tui.model.ids import HostId
from tui.model.link import FailureCause, LinkFailure, LinkReport, LinkState, no_answer

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_ANSWER_S = 10.0  # a connect or a poll that takes longer counts as "no answer"
EVENT_POLL_DELAY = 0.1  # s: events within this window share one poll
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
ADDRESS_INTERVAL = 10.0  # s between two address runs of a host with running guests
ADDRESS_SOON = 2.0  # s: the first address run after a guest shows up running


@dataclass
class HostListener:
    """What a controller tells its owner (the UI's app, or a headless command)."""

    link: Callable[[HostId, LinkReport], None]
    polled: Callable[[HostId, int, PollResult], None]
    poll_failed: Callable[[HostId, str], None]
    lifecycle: Callable[[HostId, LifecycleEvent], None]
    device: Callable[[HostId, DeviceEvent], None]
    action_done: Callable[[HostId, str, str, str, bool], None]  # host, uuid, verb, text, ok
    addresses: Callable[[HostId, AddressMap], None] | None = None  # None: no address lane


# What a finished call means. libvirt returns from shutdown and reboot once the request is
# sent (the guest's OS decides), from the others once the state changed; the lifecycle
# event ("shut off", "rebooted") is logged when it comes (tui.model.events).
ACTION_RESULT = {
    "start": "{name} started",
    "shutdown": 'shutdown requested: {name} (ACPI; its OS decides, "shut off" follows)',
    "reboot": "reboot requested: {name} (ACPI; its OS decides)",
    "pause": "{name} paused",
    "resume": "{name} resumed",
    "destroy": "{name} forced off",
}


def action_result(verb: str, name: str) -> str:
    """The result line of a lifecycle call that returned: what happened, not what was asked."""
    return ACTION_RESULT.get(verb, "{verb}: {name} sent").format(verb=verb, name=name)


class HostController:
    def __init__(
        self,
        host: HostId,
        make_backend: Callable[[HostEvents], HostBackend],
        runner: Runner,
        listener: HostListener,
        refresh: Callable[[], float],
        columns: Callable[[], tuple[str, ...]],
    ) -> None:
        self.host = host
        self._make_backend = make_backend
        self.runner = runner
        self.listener = listener
        self._refresh = refresh
        self._columns = columns
        self.loop: asyncio.AbstractEventLoop = runner.loop
        self.context = contextvars.copy_context()
        self.backend: HostBackend | None = None  # the connected backend, if any
        self.state = LinkState.CONNECTING
        self.failure: LinkFailure | None = None
        self.attempt = 0
        self.generation = 0
        self.hostname = ""
        self.since = time.monotonic()  # when the state last changed
        self.closed = False
        self.polls = SingleFlight(
            self.loop, self._start_poll, deadline=NO_ANSWER_S, on_deadline=self._poll_hung
        )
        # No deadline: libvirt bounds each agent call (5 s); one run at a time, however slow.
        self.addr_lane = SingleFlight(self.loop, self._start_addresses)
        self._running: tuple[str, ...] = ()  # uuids of the running guests, from the last poll
        self._retry: asyncio.TimerHandle | None = None
        self._connect_watchdog: asyncio.TimerHandle | None = None
        self.local: bool | None = None  # a daemon on this machine (known once a backend exists)
        self._evented: dict[str, LifecycleEvent] = {}  # uuid -> its last event during the poll

    # -- state -------------------------------------------------------------------------
    @property
    def uri(self) -> str | None:
        return self.host.libvirt_uri

    @property
    def is_up(self) -> bool:
        return self.state is LinkState.UP and self.backend is not None

    @property
    def capabilities(self) -> HostCapabilities:
        """What the host can do now: its backend's families while it is up, none otherwise."""
        up = self.backend if self.state is LinkState.UP else None
        return up.capabilities() if up is not None else NO_CAPABILITIES

    def mark_stale(self, uuid: str | None = None) -> None:
        """Re-read the guest's (or every guest's) XML at the next poll (e.g. after a define)."""
        if self.backend is not None:
            self.backend.mark_stale(uuid)

    def _set(self, state: LinkState, failure: LinkFailure | None = None) -> None:
        self.state = state
        self.failure = failure
        self.since = time.monotonic()
        text = failure.text() if failure is not None else ""
        log.info("%s: %s%s", self.host, state.value, f" ({text})" if text else "")
        self.listener.link(
            self.host, LinkReport(self.uri, state, text, self.attempt, failure=failure)
        )

    # -- connecting ----------------------------------------------------------------------
    def start(self, prefetch: Prefetch | None = None) -> None:
        """Connect; or adopt a connection (and first poll) opened before the UI existed."""
        if prefetch is None:
            self._connect()
            return
        gen = self._next_generation()
        prefetch.adopt(self._events(gen))
        self._connect_watchdog = self.loop.call_later(
            NO_ANSWER_S, self._connect_hung, gen, lambda: prefetch.backend, context=self.context
        )
        self.runner.submit(
            f"connect {self.host}",
            prefetch.wait,
            done=lambda got: self._connected(gen, got[0], got[1]),
            failed=lambda exc: self._connect_failed(gen, exc),
        )

    def _next_generation(self) -> int:
        self._retry = None
        self.generation += 1
        return self.generation

    def _events(self, gen: int) -> HostEvents:
        return HostEvents(
            lifecycle=self._on_loop(lambda ev: self._on_lifecycle(gen, ev)),
            device=self._on_loop(lambda ev: self._on_device(gen, ev)),
            lost=self._on_loop(lambda reason: self._on_lost(gen, reason)),
        )

    def _on_loop(self, fn: Callable[[T], None]) -> Callable[[T], None]:
        return on_loop(self.runner.loop, self.context, str(self.host), fn)

    def _connect(self) -> None:
        if self.closed:
            return
        gen = self._next_generation()
        backend = self._make_backend(self._events(gen))
        self._note_local(backend)
        self._connect_watchdog = self.loop.call_later(
            NO_ANSWER_S, self._connect_hung, gen, lambda: backend, context=self.context
        )
        self.runner.submit(
            f"connect {self.host}",
            backend.open,
            done=lambda _r: self._connected(gen, backend),
            failed=lambda exc: self._connect_failed(gen, exc),
        )

    def _connected(self, gen: int, backend: HostBackend, first: PollResult | None = None) -> None:
        if gen != self.generation or self.closed:
            self._abandon(backend)  # answered after we gave up on it
            return
        self._cancel_connect_watchdog()
        self._note_local(backend)
        self.backend = backend
        self.hostname = backend.hostname
        self.attempt = 0
        self._set(LinkState.UP)
        self.polls.cancel()
        self.addr_lane.cancel()
        self._running = ()
        if first is None:
            self.polls.request(0.0)
            return
        self.listener.polled(self.host, self.polls.reserve(), first)
        self._note_running(first)
        self.polls.next(self._refresh(), EVENT_POLL_DELAY)

    def _connect_failed(self, gen: int, exc: BaseException) -> bool:
        if gen != self.generation or self.closed:
            return True
        self._cancel_connect_watchdog()
        if not isinstance(exc, BackendError):
            # A bug, not a host problem: the one error handler reports it; retry all the same.
            self._down(LinkFailure(FailureCause.OTHER, f"{type(exc).__name__}: {exc}", "", True))
            return False
        failure = exc.failure or LinkFailure(
            FailureCause.OTHER, exc.message, "Check the URI and that libvirtd runs there.", True
        )
        self._down(failure)
        return True

    def _connect_hung(self, gen: int, backend_now: Callable[[], HostBackend | None]) -> None:
        self._connect_watchdog = None
        if gen != self.generation or self.closed:
            return
        self.generation += 1  # whatever the stuck open returns later is ignored
        backend = backend_now()
        if backend is not None:
            self._abandon(backend)
        self._down(no_answer(self.uri, NO_ANSWER_S))

    def _cancel_connect_watchdog(self) -> None:
        if self._connect_watchdog is not None:
            self._connect_watchdog.cancel()
            self._connect_watchdog = None

    def _down(self, failure: LinkFailure) -> None:
        """Not connected: DOWN on the first try or for good, RECONNECTING while retrying."""
        first = self.attempt == 0 and self.state is LinkState.CONNECTING
        if not failure.retry:
            self._set(LinkState.DOWN, failure)
            return
        self._set(LinkState.DOWN if first else LinkState.RECONNECTING, failure)
        delay = self.retry_delay()
        self.attempt += 1
        self._retry = self.loop.call_later(delay, self._connect, context=self.context)

    def retry_delay(self) -> float:
        """How long until the next connect: short for a local daemon, BACKOFF otherwise."""
        return retry_delay(bool(self.local), self.attempt, BACKOFF)

    def _note_local(self, backend: HostBackend) -> None:
        if self.local is None:
            self.local = not backend.remote and not backend.test_driver

    def _lose(self, failure: LinkFailure) -> None:
        """The connection went away (closed, hung or failing): drop it and reconnect."""
        backend, self.backend = self.backend, None
        self.polls.cancel()
        self.addr_lane.cancel()
        self.generation += 1
        if backend is not None:
            self._abandon(backend)
        if self.closed:
            return
        self.attempt = max(self.attempt, 1)
        self.state = LinkState.RECONNECTING
        self._down(failure)

    def _abandon(self, backend: HostBackend) -> None:
        """Close in a daemon thread that nobody waits for (it may block on a hung host)."""
        self.runner.submit(f"close {self.host}", backend.close, failed=lambda _e: True)

    def _on_lost(self, gen: int, reason: str) -> None:
        if gen != self.generation or self.closed:
            return
        self._lose(LinkFailure(FailureCause.LOST, f"connection lost ({reason})", "", True))

    # -- polls ---------------------------------------------------------------------------
    def poll_soon(self, delay: float = EVENT_POLL_DELAY) -> None:
        if self.is_up:
            self.polls.request(delay)

    def _start_poll(self, seq: int) -> None:
        backend = self.backend
        if backend is None:
            self.polls.finish(seq)
            return
        gen = self.generation
        columns = self._columns()
        self._evented = {}
        self.runner.submit(
            f"poll {self.host}",
            lambda: backend.poll(columns),
            done=lambda result: self._polled(gen, seq, result),
            failed=lambda exc: self._poll_failed(gen, seq, exc),
        )

    def _polled(self, gen: int, seq: int, result: PollResult) -> None:
        if gen != self.generation or self.closed:
            return
        result = self._after_events(result)
        if self.polls.finish(seq):
            self.listener.polled(self.host, seq, result)
            self._note_running(result)
        self.polls.next(self._refresh(), EVENT_POLL_DELAY)

    def _poll_failed(self, gen: int, seq: int, exc: BaseException) -> bool:
        if gen != self.generation or self.closed:
            return True
        self.polls.finish(seq)
        if isinstance(exc, BackendError) and exc.lost:
            self._lose(LinkFailure(FailureCause.LOST, exc.message, "", True))
            return True
        message = exc.message if isinstance(exc, BackendError) else f"{type(exc).__name__}: {exc}"
        self.listener.poll_failed(self.host, message)
        self.polls.next(self._refresh(), EVENT_POLL_DELAY)
        return isinstance(exc, BackendError)  # anything else also goes to the error handler

    def _after_events(self, result: PollResult) -> PollResult:
        evented, self._evented = self._evented, {}
        return after_events(result, evented)

    def _poll_hung(self, _seq: int) -> None:
        self._lose(no_answer(self.uri, NO_ANSWER_S))

    # -- guest addresses: their own lane, never on the stats tick -------------------------
    def _note_running(self, result: PollResult) -> None:
        """A poll shows which guests run: one that started gets its addresses soon, one that
        stopped loses them at once; otherwise the lane keeps its own cadence."""
        if self.listener.addresses is None:
            return
        running = tuple(s.uuid for s in result.samples if s.running)
        before, self._running = set(self._running), running
        if set(running) - before:
            self.addresses_soon(ADDRESS_SOON)
        elif before - set(running):
            self.addresses_soon(0.0)

    def addresses_soon(self, delay: float = 0.0) -> None:
        if self.is_up and self.listener.addresses is not None:
            self.addr_lane.request(delay)

    def _start_addresses(self, seq: int) -> None:
        backend = self.backend
        if backend is None:
            self.addr_lane.finish(seq)
            return
        gen, uuids = self.generation, self._running
        self.runner.submit(
            f"addresses {self.host}",
            lambda: backend.addresses(uuids),
            done=lambda result: self._addressed(gen, seq, result),
            failed=lambda exc: self._addresses_failed(gen, seq, exc),
        )

    def _addressed(self, gen: int, seq: int, result: AddressMap) -> None:
        if gen != self.generation or self.closed:
            return
        if self.addr_lane.finish(seq) and self.listener.addresses is not None:
            self.listener.addresses(self.host, result)
        self._address_next()

    def _addresses_failed(self, gen: int, seq: int, exc: BaseException) -> bool:
        if gen != self.generation or self.closed:
            return True
        self.addr_lane.finish(seq)
        if isinstance(exc, BackendError):  # a dead link: the stats lane reconnects
            log.info("%s: addresses failed: %s", self.host, exc.message)
        self._address_next()
        return isinstance(exc, BackendError)

    def _address_next(self) -> None:
        if self._running or self.addr_lane.dirty:
            self.addr_lane.next(ADDRESS_INTERVAL, ADDRESS_SOON)

    # -- events (libvirtaio calls these on the loop) -------------------------------------
    def _on_lifecycle(self, gen: int, ev: LifecycleEvent) -> None:
        if gen != self.generation or self.closed:
            return
        if self.polls.in_flight is not None:
            self._evented[ev.uuid] = ev
        self.listener.lifecycle(self.host, ev)
        self.poll_soon()

    def _on_device(self, gen: int, ev: DeviceEvent) -> None:
        if gen != self.generation or self.closed:
            return
        self.listener.device(self.host, ev)
        self.poll_soon()

    # -- actions -------------------------------------------------------------------------
    def act(self, uuid: str, name: str, verb: str) -> None:
        backend = self.backend
        if backend is None or not self.is_up:
            self.listener.action_done(
                self.host, uuid, verb, f"{verb} {name}: {self.host} is not connected", False
            )
            return

        def done(_r: object) -> None:
            self.listener.action_done(self.host, uuid, verb, action_result(verb, name), True)

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, BackendError):
                return False
            self.listener.action_done(
                self.host, uuid, verb, f"{verb} {name} failed: {exc.message}", False
            )
            return True

        self.runner.submit(f"{verb} {name}", lambda: backend.act(uuid, verb), done, failed)

    # -- the end -------------------------------------------------------------------------
    def close(self) -> None:
        """Never blocks: the connection is closed in a daemon thread nobody waits for."""
        self.closed = True
        self.polls.stop()
        self.addr_lane.stop()
        self._cancel_connect_watchdog()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        backend, self.backend = self.backend, None
        if backend is not None:
            self._abandon(backend)

    def reconnect_now(self) -> str:
        """The hosts screen's "reconnect now" (issue 23): try now, not after the backoff."""
        if self.closed or self.is_up or self._connect_watchdog is not None:
            return "closed" if self.closed else "up" if self.is_up else "already connecting"
        if self._retry is not None:
            self._retry.cancel()
        self._connect()
        return "reconnecting now"
