"""Single-flight scheduling: at most one run of a kind of work per host in flight.

A request while a run is in flight marks the work dirty; when the run ends, the next one starts
(after ``soon`` seconds) instead of a second one overlapping it. Every run carries a sequence
number, so a result that arrives after a newer one has been applied is recognised as old.
A run that does not finish within ``deadline`` seconds is reported once and abandoned: its
result, should it ever arrive, is older than any run after it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable


class SingleFlight:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        start: Callable[[int], None],
        deadline: float | None = None,
        on_deadline: Callable[[int], None] | None = None,
    ) -> None:
        self.loop = loop
        self.context = contextvars.copy_context()  # timers run in their creator's context
        self._start = start
        self.deadline = deadline
        self._on_deadline = on_deadline
        self.seq = 0  # the number of the newest run started
        self.applied = 0  # the newest run whose result was accepted
        self.in_flight: int | None = None
        self.dirty = False
        self.started = 0  # runs started (tests and the bench count them)
        self.max_concurrent = 0
        self._timer: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.stopped = False

    # -- requests --------------------------------------------------------------------------
    def request(self, delay: float = 0.0) -> None:
        """Run soon: now if idle (after ``delay``), or right after the run in flight."""
        if self.stopped:
            return
        if self.in_flight is not None:
            self.dirty = True
            return
        if self._timer is not None:
            if self._timer.when() <= self.loop.time() + delay:
                return  # already due sooner
            self._timer.cancel()
        self._timer = self.loop.call_later(delay, self._fire, context=self.context)

    def _fire(self) -> None:
        self._timer = None
        if self.stopped or self.in_flight is not None:
            return
        self.seq += 1
        self.in_flight = self.seq
        self.dirty = False
        self.started += 1
        self.max_concurrent = max(self.max_concurrent, 1)
        if self.deadline is not None:
            self._watchdog = self.loop.call_later(
                self.deadline, self._expired, self.seq, context=self.context
            )
        self._start(self.seq)

    def _expired(self, seq: int) -> None:
        self._watchdog = None
        if self.in_flight == seq:
            self.in_flight = None  # abandoned: its result will be older than the next run's
            if self._on_deadline is not None:
                self._on_deadline(seq)

    def reserve(self) -> int:
        """A sequence number for a result obtained outside a run (a prefetched first poll)."""
        self.seq += 1
        self.applied = self.seq
        return self.seq

    # -- results ---------------------------------------------------------------------------
    def finish(self, seq: int) -> bool:
        """A run ended. Returns True when its result is the newest and should be applied."""
        if self.in_flight == seq:
            self.in_flight = None
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
        if seq <= self.applied:
            return False
        self.applied = seq
        return True

    def next(self, interval: float, soon: float) -> None:
        """After a run: the next one at ``interval``, or ``soon`` when something asked for it."""
        if self.stopped or self.in_flight is not None:
            return
        self.request(soon if self.dirty else interval)

    def cancel(self) -> None:
        """Forget the timer and the run in flight (its result will be refused)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.in_flight is not None:
            self.applied = max(self.applied, self.in_flight)  # its result is now stale
            self.in_flight = None
        self.dirty = False

    def stop(self) -> None:
        self.cancel()
        self.stopped = True
