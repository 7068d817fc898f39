"""A scriptable fake :class:`~tui.core.ports.HostBackend` for fast controller tests.

Why a fake: the controller's rules are about *timing and faults* — a connect that hangs past
the deadline, a poll that answers after its connection was abandoned, a connection lost in the
middle of a poll, events that arrive while a slow poll runs, a daemon that refuses for a while
and then answers. A real libvirtd cannot be made to show each of these on demand, in
milliseconds and deterministically; the fault proxy (testbed/faultproxy.py) does it for the
end-to-end tests, at real speed. Everything else about a host (what a poll returns, events'
contents) is the smallest that lets the controller run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tui.core.ports import NO_CAPABILITIES, HostCapabilities
from tui.model.addresses import AddressMap
from tui.model.backend import BackendError, HostEvents
from tui.model.events import LifecycleEvent
from tui.model.guest import GuestSample
from tui.model.host import PollResult
from tui.model.link import FailureCause, LinkFailure


@dataclass
class Script:
    """What every backend made by :meth:`factory` does. Change it while a test runs."""

    remote: bool = True
    open_fails: int = 0  # the next N opens fail (refused)
    invalid_uri: bool = False  # open fails for good (not retried)
    open_hangs: bool = False  # open blocks until ``release`` is set
    poll_s: float = 0.0  # each poll takes this long
    poll_hangs: bool = False  # polls block until ``release`` is set
    poll_lost: bool = False  # the next poll fails with a lost connection
    samples: list[GuestSample] = field(default_factory=list)  # what each poll reads
    release: threading.Event = field(default_factory=threading.Event)
    opens: list[float] = field(default_factory=list)  # monotonic time of each open
    polls_started: int = 0
    active_polls: int = 0
    most_polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    made: list[FakeHost] = field(default_factory=list)

    def factory(self, events: HostEvents) -> FakeHost:
        host = FakeHost(self, events, len(self.made))
        self.made.append(host)
        return host


class FakeHost:
    """One connection. ``results`` from its polls carry its index in ``uri``."""

    hostname = "fake"

    def __init__(self, script: Script, events: HostEvents, index: int) -> None:
        self.script = script
        self.events = events
        self.index = index
        self.uri: str | None = f"fake://{index}"
        self.closed = False

    @property
    def remote(self) -> bool:
        return self.script.remote

    @property
    def test_driver(self) -> bool:
        return False

    def open(self) -> None:
        s = self.script
        s.opens.append(time.monotonic())
        if s.invalid_uri:
            raise BackendError(
                "invalid URI",
                failure=LinkFailure(FailureCause.INVALID_URI, "invalid URI", "fix it", False),
            )
        if s.open_fails > 0:
            s.open_fails -= 1
            raise BackendError(
                "refused", failure=LinkFailure(FailureCause.OTHER, "connection refused", "")
            )
        if s.open_hangs:
            s.release.wait()

    def poll(self, columns: tuple[str, ...]) -> PollResult:
        s = self.script
        with s.lock:
            s.polls_started += 1
            s.active_polls += 1
            s.most_polls = max(s.most_polls, s.active_polls)
        try:
            if s.poll_lost:
                s.poll_lost = False
                raise BackendError("connection lost", lost=True)
            if s.poll_hangs:
                s.release.wait()
            elif s.poll_s:
                time.sleep(s.poll_s)
            return PollResult(self.uri, list(s.samples), 0.0, 0)
        finally:
            with s.lock:
                s.active_polls -= 1

    def act(self, uuid: str, verb: str) -> None:
        return None

    def addresses(self, uuids: tuple[str, ...]) -> AddressMap:
        return {}

    def close(self) -> None:
        self.closed = True

    def mark_stale(self, uuid: str | None = None) -> None:
        return None

    def capabilities(self) -> HostCapabilities:
        return NO_CAPABILITIES

    # -- what the host does on its own ---------------------------------------------------
    def lifecycle(self, event: int = 3) -> None:  # 3: suspended
        self.events.lifecycle(LifecycleEvent(self.uri, "g1", "u1", event, 0, time.time()))

    def lose(self, reason: str = "end of file") -> None:
        self.events.lost(reason)
