"""A host controller against the real libvirtd: single-flight polls, contained failures."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import libvirt
import pytest

from testbed import bed
from tui.adapters.libvirt import session as session_mod
from tui.adapters.libvirt.host import LibvirtHost
from tui.core.controller import HostController, HostListener
from tui.core.runner import Runner
from tui.model.backend import HostEvents
from tui.model.host import PollResult
from tui.model.ids import HostId
from tui.model.link import LinkState

pytestmark = pytest.mark.libvirtd


class SlowHost(LibvirtHost):
    """The real adapter, with each poll held for ``delay`` seconds and counted.

    A fake only in timing: a poll of 2 TCG guests takes milliseconds here, so the overlap that
    a slow host (hundreds of guests, a loaded daemon) produces has to be made deterministic.
    """

    delay = 1.0
    lock = threading.Lock()
    active = 0
    most = 0
    polls = 0

    def poll(self, columns: tuple[str, ...]) -> PollResult:
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.most = max(cls.most, cls.active)
            cls.polls += 1
        try:
            time.sleep(cls.delay)
            return super().poll(columns)
        finally:
            with cls.lock:
                cls.active -= 1


class Recorder:
    def __init__(self) -> None:
        self.links: list[LinkState] = []
        self.polled: list[int] = []
        self.events: list[str] = []
        self.errors: list[tuple[str, BaseException]] = []

    def listener(self) -> HostListener:
        return HostListener(
            link=lambda h, r: self.links.append(r.state),
            polled=lambda h, seq, r: self.polled.append(seq),
            poll_failed=lambda h, e: self.errors.append((e, RuntimeError(e))),
            lifecycle=lambda h, ev: self.events.append(ev.kind),
            device=lambda h, ev: None,
            action_done=lambda *a: None,
        )


async def wait(pred: Any, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_event_burst_during_a_slow_poll_never_overlaps_polls(
    guests: list[bed.Guest],
) -> None:
    from tui.adapters.libvirt.connection import register_event_loop

    register_event_loop()
    rec = Recorder()
    runner = Runner(asyncio.get_running_loop(), lambda name, exc: rec.errors.append((name, exc)))
    SlowHost.most = SlowHost.polls = 0
    host = HostId(bed.SYSTEM_URI)
    ctl = HostController(
        host,
        lambda events: SlowHost(bed.SYSTEM_URI, False, events, host_cpus=2),
        runner,
        rec.listener(),
        refresh=lambda: 60.0,  # no timer polls: every poll after the first comes from events
        columns=lambda: ("cpu",),
    )
    ctl.start()
    try:
        await wait(lambda: ctl.is_up and SlowHost.polls >= 1, 30, "connected and polling")
        conn = libvirt.open(bed.SYSTEM_URI)
        dom = conn.lookupByName(guests[0].name)

        def burst() -> None:
            for _ in range(5):  # 10 real lifecycle events while polls are slow
                dom.suspend()
                dom.resume()

        await asyncio.to_thread(burst)
        await wait(lambda: rec.events.count("resumed") >= 5, 30, "the burst's events")
        await wait(lambda: ctl.polls.in_flight is None and not ctl.polls.dirty, 30, "quiet")
        conn.close()
    finally:
        ctl.close()
        runner.close()
    assert SlowHost.most == 1, f"{SlowHost.most} polls of one host were in flight at once"
    # The burst coalesced: far fewer polls than events, and at least one after the burst.
    assert 2 <= SlowHost.polls < 10
    assert rec.polled == sorted(rec.polled), "results were applied out of order"
    assert not rec.errors


async def test_one_guests_unreadable_xml_costs_its_facts_not_the_poll(
    guests: list[bed.Guest], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = session_mod.parse_domain
    victim = guests[0].name

    def parse(xml: str) -> Any:
        if f"<name>{victim}</name>" in xml:
            raise ValueError("invalid literal for int() with base 10: 'lots'")
        return real(xml)

    monkeypatch.setattr(session_mod, "parse_domain", parse)
    events = HostEvents(lambda ev: None, lambda ev: None, lambda reason: None)
    backend = LibvirtHost(bed.SYSTEM_URI, False, events, host_cpus=2)
    await asyncio.to_thread(backend.open)
    try:
        result = await asyncio.to_thread(backend.poll, ("cpu", "mem"))
    finally:
        await asyncio.to_thread(backend.close)
    by_name = {s.name: s for s in result.samples}
    assert {g.name for g in guests} <= set(by_name)
    bad = by_name[victim].uuid
    assert "lots" in result.errors[bad]
    assert bad not in result.info
    good = by_name[guests[1].name].uuid
    assert result.info[good].name == guests[1].name
