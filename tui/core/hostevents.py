"""What a host controller does with a backend's events and failures (tui/core/controller.py).

- :func:`on_loop`: a backend's callbacks (``HostEvents``) may come from any thread; libvirt
  runs its close callback in the thread that notices the loss (the poll whose call failed).
  Run there, the loss reached the controller's timers, the fleet and the app's render queue
  from a foreign thread and raced the loop: the display froze for good (issue 24). They are
  handed to the loop first.
- :func:`after_events`: a poll that was on its way when a lifecycle event came read its states
  before the event (a slow poll: a libvirtd still reattaching its guests took 7.9 s); those
  guests keep the state the event gave them, and the next poll (the event asked for it) reads
  them again.
- :func:`retry_delay`: a local daemon (unix socket, loopback) is retried at short intervals: a
  refused connect costs nothing, and a libvirtd restarted 2 s after a kill answers 0.1 s after
  it starts (with the remote backoff it was reconnected 6 s after the loss).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from tui.model.events import LifecycleEvent
from tui.model.fleet import EVENT_STATE
from tui.model.host import PollResult

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCAL_RETRY = 0.25  # s between connects to a local daemon, for the first LOCAL_FAST of them
LOCAL_FAST = 40
LOCAL_SLOW = 0.5  # s between connects after that, for as long as it takes


def on_loop(
    loop: asyncio.AbstractEventLoop,
    context: contextvars.Context,
    host: str,
    fn: Callable[[T], None],
) -> Callable[[T], None]:
    """``fn`` as a backend callback: run at once on ``loop``'s thread, handed to the loop from
    any other thread."""

    def call(arg: T) -> None:
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:  # no loop runs in this thread
            here = False
        if here:
            fn(arg)
            return
        log.debug(
            "%s: event from thread %s, handed to the loop", host, threading.current_thread().name
        )
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            loop.call_soon_threadsafe(fn, arg, context=context)

    return call


def after_events(result: PollResult, evented: dict[str, LifecycleEvent]) -> PollResult:
    """``result`` with the state of each guest in ``evented`` (uuid -> its last event during
    the poll) as that event left it."""
    if not evented:
        return result
    samples = []
    for sample in result.samples:
        ev = evented.get(sample.uuid)
        state = EVENT_STATE.get(ev.kind) if ev is not None else None
        if state is not None and state != sample.state_code:
            sample = dataclasses.replace(sample, state=state.label, state_code=int(state))
        samples.append(sample)
    return dataclasses.replace(result, samples=samples)


def retry_delay(local: bool, attempt: int, backoff: Sequence[float]) -> float:
    """Seconds until connect number ``attempt + 1``."""
    if local:
        return LOCAL_RETRY if attempt < LOCAL_FAST else LOCAL_SLOW
    return backoff[min(attempt, len(backoff) - 1)]
