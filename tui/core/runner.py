"""Blocking calls off the event loop, in daemon threads that can be abandoned.

Textual's thread workers run in asyncio's default executor, whose threads are joined when the
loop shuts down: one libvirt call stuck on a host that never answers would then hang quit.
Here every blocking call runs in a daemon thread; its outcome is handed back to the loop with
``call_soon_threadsafe``. A call that is never answered is simply forgotten: the process
still exits.

``threading.Thread.start`` blocks its caller until the new thread has run: on a loaded
machine that cost the event loop about 12 ms a thread (53 hosts connecting at start: 1 s before
the first frame; 50 polls a second: a key waited behind them). So the loop only queues the
job; one long-lived daemon thread (the spawner) starts the threads.

**Threads are reused** (:class:`tui.threads.Reuse`): a thread whose job ended waits a while
for the next one, so 50 hosts polled each second no longer make 50 threads a second. A job goes
to an idle thread when there is one, else the spawner starts a new one: a call stuck for ever
keeps only its own thread, and nothing waits for it. Each job runs in a fresh ``contextvars``
context, as it would in a new thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tui.threads import Reuse

log = logging.getLogger(__name__)
T = TypeVar("T")

Job = Callable[[], None]

ErrorHandler = Callable[[str, BaseException], None]


class Runner:
    """Runs ``fn`` in a daemon thread; ``done(result)`` or ``failed(exc)`` run on the loop.

    Exceptions that the caller does not handle go to the one ``on_error`` handler (the UI
    turns them into an event-log line and a notification; the traceback goes to the log).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_error: ErrorHandler) -> None:
        self.loop = loop
        self.on_error = on_error
        # Results run in the context of whoever made the runner (a UI framework's context
        # variables, e.g. Textual's active app, stay set for the callbacks).
        self.context = contextvars.copy_context()
        self.closed = False
        self.in_flight: dict[int, str] = {}  # thread ident -> name (tests, diagnostics)
        self._lock = threading.Lock()
        self._starts: queue.SimpleQueue[Job | None] = queue.SimpleQueue()  # for the spawner
        self.threads = Reuse("kvmdeck:idle")
        self._spawner: threading.Thread | None = None

    def submit(
        self,
        name: str,
        fn: Callable[[], T],
        done: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], bool | None] | None = None,
    ) -> None:
        """``failed`` returns True when it handled the error; otherwise ``on_error`` gets it."""
        timed = log.isEnabledFor(logging.DEBUG)  # --log: each job's timeline
        submitted = time.monotonic() if timed else 0.0

        def body() -> None:
            ident = threading.get_ident()
            threading.current_thread().name = f"kvmdeck:{name}"
            with self._lock:
                self.in_flight[ident] = name
            started = time.monotonic() if timed else 0.0
            try:
                result = contextvars.Context().run(fn)  # nothing carried over from a last job
            except BaseException as exc:  # delivered to the loop; nothing escapes a thread
                self._deliver(self._fail, name, exc, failed)
            else:
                if done is not None:
                    self._deliver(self._done, name, done, result)
            finally:
                with self._lock:
                    self.in_flight.pop(ident, None)
                threading.current_thread().name = self.threads.idle_name
                if timed:
                    ended = time.monotonic()
                    self._deliver(self._timeline, name, submitted, started, ended)

        with self._lock:  # a job is queued before close's end mark, or started here
            if not self.closed:
                if self.threads.offer(body):  # a thread waits for work: it takes this job
                    return
                if self._spawner is None:
                    self._spawner = threading.Thread(
                        target=self._spawn, name="kvmdeck:spawner", daemon=True
                    )
                    self._spawner.start()
                self._starts.put(body)  # never blocks
                return
        self.threads.thread(body).start()  # quitting: no spawner any more

    def _spawn(self) -> None:
        """The spawner: starts a thread for each job no idle thread took, in order, until
        :meth:`close`."""
        while (job := self._starts.get()) is not None:
            self.threads.thread(job).start()

    def _deliver(self, fn: Callable[..., None], *args: Any) -> None:
        if self.closed or self.loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            self.loop.call_soon_threadsafe(fn, *args, context=self.context)

    def _done(self, name: str, done: Callable[[Any], None], result: Any) -> None:
        if self.closed:
            return
        try:
            done(result)
        except Exception as exc:
            self.on_error(name, exc)

    def _timeline(self, name: str, submitted: float, started: float, ended: float) -> None:
        log.debug(
            "job %s: started after %.0f ms, ran %.0f ms, back on the loop after %.0f ms",
            name,
            (started - submitted) * 1000,
            (ended - started) * 1000,
            (time.monotonic() - ended) * 1000,
        )

    def _fail(
        self,
        name: str,
        exc: BaseException,
        failed: Callable[[BaseException], bool | None] | None,
    ) -> None:
        if self.closed:
            return
        try:
            if failed is not None and failed(exc):
                return
        except Exception as inner:
            exc = inner
        self.on_error(name, exc)

    def close(self) -> None:
        """Stop delivering results: whatever is still running is abandoned. Jobs queued
        before still start (a host's close, say); the spawner then ends."""
        with self._lock:
            self.closed = True
            self._starts.put(None)
        self.threads.close()  # idle threads end; jobs they were handed run first
