"""The USB coordinator's serial queue: one blocking job at a time per host.

Every job (an attach, a detach, an owners snapshot, a rules.toml read or save) runs through the
runner in a worker thread; the next starts when the last one's result was delivered on the
loop's thread. An owners read therefore never overtakes the attach before it, and two actions on
one host never race. Urgent jobs (attaches and detaches, a rule's or a key's) go ahead of the
snapshots and rules reads waiting, in order among themselves.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tui.core.usb.ports import BlockingRunner

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    fn: Callable[[], Any]
    done: Callable[[Any], None]
    failed: Callable[[BaseException], bool | None] | None = None
    on_start: Callable[[], None] | None = None  # when it leaves the queue for a thread
    urgent: bool = False  # an attach or detach: ahead of queued snapshots and rules checks
    queued: float = field(default_factory=time.monotonic)


class SerialJobs:
    """Jobs of one host, one at a time (results on the loop's thread)."""

    def __init__(self, runner: BlockingRunner) -> None:
        self.runner = runner
        self.closed = False
        self.queue: deque[Job] = deque()
        self._busy = False

    @property
    def idle(self) -> bool:
        return not self._busy and not self.queue

    def enqueue(self, job: Job) -> None:
        """Queue a job; an urgent one (a rule's or a key's attach or detach) goes ahead of the
        snapshots and rules reads waiting, behind the urgent ones. Under TCG in the lab an
        owners snapshot takes 0.3-0.7 s, and a plug's attach waited behind one or two: the
        TUI's plug -> attached by a rule was 0.6 s slower than rules --run's."""
        if self.closed:
            return
        if job.urgent:
            at = next((i for i, j in enumerate(self.queue) if not j.urgent), len(self.queue))
            self.queue.insert(at, job)
        else:
            self.queue.append(job)
        self._pump()

    def close(self) -> None:
        """Forget queued work (a job already running is abandoned: its result is dropped)."""
        self.closed = True
        self.queue.clear()

    def _pump(self) -> None:
        if self._busy or not self.queue or self.closed:
            return
        job = self.queue.popleft()
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "usb job %s: %.0f ms in the queue", job.name, (time.monotonic() - job.queued) * 1000
            )
        if job.on_start is not None:
            job.on_start()
        self._busy = True

        def done(result: Any) -> None:
            self._busy = False
            try:
                if not self.closed:
                    job.done(result)
            finally:
                self._pump()

        def failed(exc: BaseException) -> bool | None:
            self._busy = False
            try:
                return job.failed(exc) if job.failed is not None and not self.closed else None
            finally:
                self._pump()

        self.runner.submit(job.name, job.fn, done, failed)


__all__ = ["Job", "SerialJobs"]
