"""Blocking work for the UI, and the one handler for everything that fails in it.

All blocking calls go through :class:`tui.core.runner.Runner` (daemon threads, so quit never
waits for a host). Whatever a call does not handle itself ends here: one event-log line, one
notification, the traceback in the ``--log`` file, and the app keeps running (harlequin's way).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tui.core.runner import Runner

log = logging.getLogger(__name__)

NOTIFY_EVERY_S = 30.0  # the same failing work notifies at most this often; the log gets all


class ErrorHandler:
    def __init__(
        self,
        log_line: Callable[[str], None],
        notify: Callable[[str], None],
    ) -> None:
        self._log_line = log_line
        self._notify = notify
        self._last: dict[str, float] = {}
        self.count = 0

    def __call__(self, name: str, exc: BaseException) -> None:
        self.count += 1
        log.error("work %r failed", name, exc_info=(type(exc), exc, exc.__traceback__))
        text = f"{name} failed: {type(exc).__name__}: {exc}"
        self._log_line(text)
        kind = name.split(" ", 1)[0]
        now = time.monotonic()
        if now - self._last.get(kind, -NOTIFY_EVERY_S) >= NOTIFY_EVERY_S:
            self._last[kind] = now
            self._notify(text)


def make_runner(handler: ErrorHandler) -> Runner:
    return Runner(asyncio.get_running_loop(), handler)
