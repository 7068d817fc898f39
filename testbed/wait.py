"""The one way the tests, the bench and the screenshots wait for a condition.

``wait_for`` blocks (threads, subprocesses, libvirt); ``until`` awaits, letting the event loop
run (an app under ``run_test``, a coordinator, a udev monitor). Both return the first true
value of the predicate, and fail with what they waited for and, if given, ``explain()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _timed_out(what: str, timeout: float, explain: Callable[[], str] | None) -> AssertionError:
    more = f"\n{explain()}" if explain is not None else ""
    return AssertionError(f"timed out after {timeout} s waiting for {what}{more}")


def wait_for(
    predicate: Callable[[], T],
    deadline_s: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
    explain: Callable[[], str] | None = None,
) -> T:
    """Call ``predicate`` every ``interval`` s until it returns a true value."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise _timed_out(what, deadline_s, explain)
        time.sleep(interval)


async def until(
    predicate: Callable[[], T],
    what: str = "condition",
    timeout: float = 10.0,
    *,
    step: float = 0.05,
    pause: Callable[[float], Awaitable[object]] | None = None,
    explain: Callable[[], str] | None = None,
) -> T:
    """Await ``pause(step)`` (``asyncio.sleep`` unless given, e.g. ``pilot.pause``) until
    ``predicate`` returns a true value; return it."""
    sleep = pause or asyncio.sleep
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise _timed_out(what, timeout, explain)
        await sleep(step)
