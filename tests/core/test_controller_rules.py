"""The host controller's rules against a scriptable fake backend (tests/support/fakehost.py:
its docstring says why a fake): backoff, no retry for an invalid URI, results of an abandoned
connection ignored, events during a slow poll coalesced, a local daemon retried fast, and a
backend's callbacks from another thread handed to the loop. Each runs in well under a second of
real time: the delays the controller asks for are recorded and shortened by a factor."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from tests.support.fakehost import Script
from tui.core import controller as ctl_mod
from tui.core import hostevents
from tui.core.controller import HostController, HostListener
from tui.core.runner import Runner
from tui.model.guest import GuestSample, GuestState
from tui.model.ids import HostId
from tui.model.link import LinkState

SCALE = 0.001  # a requested delay of 1 s runs in 1 ms


class ScaledLoop:
    """The real loop, with call_later's delays recorded; the retries' (``_connect``) shortened.

    Only the retries: the connect watchdog (NO_ANSWER_S, 10 s) keeps its real delay. Scaled to
    10 ms, an open whose thread started late on a loaded machine counted as "no answer", was
    abandoned and retried: extra retries, and never the single DOWN of an invalid URI."""

    SCALED = frozenset({"_connect"})

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.delays: list[tuple[float, str]] = []

    def call_later(self, delay: float, fn: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        name = getattr(fn, "__name__", "?")
        self.delays.append((delay, name))
        scaled = delay * SCALE if name in self.SCALED else delay
        return self.loop.call_later(scaled, fn, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)


class Recorder:
    def __init__(self) -> None:
        self.links: list[LinkState] = []
        self.link_threads: list[int] = []
        self.polled: list[str | None] = []
        self.results: list[Any] = []
        self.events: list[str] = []

    def listener(self) -> HostListener:
        def link(_h: HostId, report: Any) -> None:
            self.links.append(report.state)
            self.link_threads.append(threading.get_ident())

        return HostListener(
            link=link,
            polled=lambda _h, _seq, result: (
                self.polled.append(result.uri),
                self.results.append(result),
            ),
            poll_failed=lambda _h, _e: None,
            lifecycle=lambda _h, ev: self.events.append(ev.kind),
            device=lambda _h, _ev: None,
            action_done=lambda *_a: None,
        )


async def until(pred: Any, deadline_s: float = 5.0, what: str = "condition") -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def make(script: Script, refresh: float = 1.0) -> tuple[HostController, Recorder, ScaledLoop]:
    loop = asyncio.get_running_loop()
    rec = Recorder()
    ctl = HostController(
        HostId.of("fake://host"),
        script.factory,
        Runner(loop, lambda _name, exc: None),
        rec.listener(),
        refresh=lambda: refresh,
        columns=lambda: ("cpu",),
    )
    scaled = ScaledLoop(loop)
    ctl.loop = scaled  # type: ignore[assignment]
    return ctl, rec, scaled


def retries(scaled: ScaledLoop) -> list[float]:
    return [d for d, name in scaled.delays if name == "_connect"]


async def test_a_remote_host_that_refuses_is_retried_with_backoff() -> None:
    script = Script(remote=True, open_fails=8)
    ctl, rec, scaled = make(script)
    ctl.start()
    try:
        await until(lambda: ctl.is_up, what="connected after 8 refusals")
        assert retries(scaled) == [1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0, 30.0]
        assert rec.links[0] is LinkState.DOWN  # the first try failed
        assert LinkState.RECONNECTING in rec.links and rec.links[-1] is LinkState.UP
    finally:
        ctl.close()


async def test_a_local_daemon_is_retried_every_quarter_second() -> None:
    """A local libvirtd restarted 2 s after a kill answers 0.1 s after it starts: retried at
    short intervals it is back within LOCAL_RETRY of answering, not after the next backoff."""
    script = Script(remote=False, open_fails=12)
    ctl, _rec, scaled = make(script)
    ctl.start()
    try:
        await until(lambda: ctl.is_up, what="connected")
        assert retries(scaled) == [hostevents.LOCAL_RETRY] * 12
    finally:
        ctl.close()
    assert ctl.retry_delay() <= 0.5


async def test_a_local_daemon_down_for_long_is_retried_every_half_second() -> None:
    script = Script(remote=False, open_fails=hostevents.LOCAL_FAST + 5)
    ctl, _rec, scaled = make(script)
    ctl.start()
    try:
        await until(lambda: ctl.is_up, what="connected")
        got = retries(scaled)
        assert got[: hostevents.LOCAL_FAST] == [hostevents.LOCAL_RETRY] * hostevents.LOCAL_FAST
        assert got[hostevents.LOCAL_FAST :] == [hostevents.LOCAL_SLOW] * 5
    finally:
        ctl.close()


async def test_an_invalid_uri_is_not_retried() -> None:
    script = Script(invalid_uri=True)
    ctl, rec, scaled = make(script)
    ctl.start()
    try:
        await until(lambda: rec.links == [LinkState.DOWN], what="down")
        await asyncio.sleep(0.1)  # a retry would come after 1 ms
        assert len(script.opens) == 1 and retries(scaled) == []
        assert ctl.state is LinkState.DOWN
    finally:
        ctl.close()


async def test_a_result_from_an_abandoned_connection_is_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A poll hangs past the deadline: the connection is abandoned and a new one made. When
    the hung poll answers at last, its result is not applied."""
    monkeypatch.setattr(ctl_mod, "NO_ANSWER_S", 0.2)
    script = Script(remote=True, poll_hangs=True)
    ctl, rec, _scaled = make(script)
    ctl.start()
    try:
        await until(lambda: len(script.made) >= 2 and ctl.is_up, what="abandoned, reconnected")
        first = script.made[0]
        assert first.closed  # closed (in a thread nobody waits for)
        script.poll_hangs = False
        script.release.set()  # every hung poll answers now, the abandoned one too
        await until(lambda: len(rec.polled) >= 2, what="polls of the new connection")
        await asyncio.sleep(0.05)
        assert first.uri not in rec.polled
    finally:
        ctl.close()
        script.release.set()


async def test_events_during_a_slow_poll_are_coalesced() -> None:
    """Fifty lifecycle events while a poll takes 0.3 s: each is passed on at once, and they
    cost one more poll after the slow one, never a second poll beside it."""
    script = Script(remote=True, poll_s=0.3)
    ctl, rec, _scaled = make(script, refresh=60.0)
    ctl.start()
    try:
        await until(lambda: script.active_polls == 1, what="the first poll in flight")
        host = script.made[-1]
        for _ in range(50):
            host.lifecycle()
        assert len(rec.events) == 50  # applied when they come, not with the next poll
        await until(lambda: len(rec.polled) >= 2, what="the follow-up poll")
        await asyncio.sleep(0.4)
        assert script.polls_started == 2 and script.most_polls == 1
    finally:
        ctl.close()


async def test_a_loss_reported_from_another_thread_is_handled_on_the_loop() -> None:
    """libvirt runs its close callback in the thread whose call failed: the controller must
    not touch its timers or its listener from there (the frozen display of issue 24)."""
    script = Script(remote=True)
    ctl, rec, _scaled = make(script)
    ctl.start()
    try:
        await until(lambda: ctl.is_up, what="connected")
        loop_thread = threading.get_ident()
        host = script.made[-1]
        thread = threading.Thread(target=host.lose)
        thread.start()
        thread.join()
        await until(lambda: LinkState.RECONNECTING in rec.links, what="the loss")
        assert set(rec.link_threads) == {loop_thread}
        await until(lambda: ctl.is_up and len(script.made) == 2, what="reconnected")
    finally:
        ctl.close()


async def test_a_slow_poll_does_not_hide_an_event_that_came_while_it_ran() -> None:
    """The poll read "running" before the guest was suspended (the event came while the poll
    was still on its way, as with a libvirtd still reattaching its guests): the row keeps the
    event's "paused", and the follow-up poll reads the state again."""
    running = GuestSample("g1", "u1", GuestState.RUNNING.label, int(GuestState.RUNNING), 0)
    script = Script(remote=True, poll_s=0.3, samples=[running])
    ctl, rec, _scaled = make(script, refresh=60.0)
    ctl.start()
    try:
        await until(lambda: script.active_polls == 1, what="the slow poll in flight")
        script.made[-1].lifecycle(3)  # suspended
        await until(lambda: len(rec.results) >= 1, what="the slow poll's result")
        assert rec.results[0].samples[0].state_code == int(GuestState.PAUSED)
        await until(lambda: len(rec.results) >= 2, what="the follow-up poll")
        assert rec.results[1].samples[0].state_code == int(GuestState.RUNNING)  # read again
    finally:
        ctl.close()
