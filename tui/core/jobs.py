"""Long operations with progress and cancel (copies, uploads, clones, creates).

A :class:`Job` runs its function in the runner's daemon thread and hands it a progress callback
``(stage, done, total)``. The callback records the figures (read by the UI on its own timer,
so a fast copy costs no repaint per chunk) and raises :class:`JobCancelled` once
:meth:`Job.cancel` was called: the operation then removes what it made, and its message says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from tui.model.jobs import JobProgress, ProgressFn
from tui.model.provision import JobCancelled

T = TypeVar("T")


class Job(Generic[T]):
    def __init__(self, title: str, fn: Callable[[ProgressFn], T]) -> None:
        self.title = title
        self._fn = fn
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._stage = "starting"
        self._done = 0
        self._total = 0
        self._t0 = time.monotonic()
        self._finished = False

    # -- the worker's side ---------------------------------------------------------------
    def report(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            if stage != self._stage:
                self._stage = stage
                self._t0 = time.monotonic()
            self._done, self._total = done, total
        if self._cancel.is_set():
            raise JobCancelled(f"{self.title}: cancelled")

    def run(self) -> T:
        """Blocking: call from the runner's thread."""
        try:
            if self._cancel.is_set():
                raise JobCancelled(f"{self.title}: cancelled")
            return self._fn(self.report)
        finally:
            with self._lock:
                self._finished = True

    # -- the UI's side -------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self) -> JobProgress:
        with self._lock:
            return JobProgress(
                done=self._done,
                total=self._total,
                elapsed=time.monotonic() - self._t0,
                title=self.title,
                stage=self._stage,
                finished=self._finished,
            )
