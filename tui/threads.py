"""Daemon threads that are reused: a thread whose job ended waits a while for the next one.

A kvmdeck job may block for ever (a libvirt call to a host that never answers, a stuck guest
agent), so jobs run in daemon threads nobody joins, never in a fixed-size pool that a few stuck
calls could fill. Starting a thread for every job cost, with 50 hosts polled each second and
their address runs, 125 threads a second: about 80 us of CPU each here (creation, start, end),
and the caller paid for the ``Thread`` object and its locks. :class:`Reuse` keeps that shape
(each job gets a thread of its own while it runs, however long) but lets a thread whose job
ended take the next: :meth:`Reuse.offer` hands a job to an idle thread, or says there is none
and the caller starts one with :meth:`Reuse.thread` (the runner through its spawner thread,
so the event loop never waits in ``Thread.start``). An idle thread ends after ``idle_s``.
A stuck job keeps only its own thread. No textual, no libvirt: the core's runner and the
adapters' agent calls both use it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

Job = Callable[[], None]

IDLE_S = 30.0  # an idle thread waits this long for another job, then ends


class Reuse:
    def __init__(self, idle_name: str, idle_s: float = IDLE_S) -> None:
        self.idle_name = idle_name  # a waiting thread's name (a job names it while it runs)
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._idle = 0  # threads waiting on _work (under _lock)
        self.closed = False
        self.started = 0  # threads ever made (tests, the bench)

    def offer(self, job: Job) -> bool:
        """Hand ``job`` to an idle thread; False when none waits (start one: :meth:`thread`)."""
        with self._lock:
            if self.closed or not self._idle:
                return False
            self._idle -= 1
            self._work.put(job)
            return True

    def thread(self, first: Job) -> threading.Thread:
        """A new daemon thread (not started) that runs ``first``, then takes offered jobs."""
        with self._lock:
            self.started += 1
        return threading.Thread(target=self._run, args=(first,), name=self.idle_name, daemon=True)

    def close(self) -> None:
        """Idle threads end now; busy ones end with their job."""
        with self._lock:
            self.closed = True
            for _ in range(self._idle):
                self._work.put(None)
            self._idle = 0

    @property
    def idle(self) -> int:
        return self._idle

    def _run(self, job: Job | None) -> None:
        while job is not None:
            job()
            job = None  # no job's closures held while idle
            job = self._next()

    def _next(self) -> Job | None:
        with self._lock:
            if self.closed:
                return None
            self._idle += 1
        try:
            return self._work.get(timeout=self.idle_s)
        except queue.Empty:
            with self._lock:  # a job offered just as the wait ended is still this thread's
                try:
                    return self._work.get_nowait()
                except queue.Empty:
                    self._idle -= 1
                    return None
