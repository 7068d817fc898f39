"""Guest addresses have their own lane: never on the stats tick, one run at a time, and a slow
address call (a stuck guest agent) does not hold up a single stats poll. Real libvirtd."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from testbed import bed
from tests.core.test_controller import Recorder, wait
from tui.adapters.libvirt.host import LibvirtHost
from tui.core import controller as controller_mod
from tui.core.controller import HostController
from tui.core.runner import Runner
from tui.model.addresses import AddressMap
from tui.model.backend import HostEvents
from tui.model.ids import HostId

pytestmark = pytest.mark.libvirtd


class SlowAddresses(LibvirtHost):
    """The real adapter, its address runs counted; while ``gate`` is clear each run is held
    there (a stuck guest agent) until the test opens it. A fake only in timing."""

    gate = threading.Event()
    lock = threading.Lock()
    active = 0
    held = 0
    most = 0
    runs = 0

    def addresses(self, uuids: tuple[str, ...]) -> AddressMap:
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.most = max(cls.most, cls.active)
            cls.runs += 1
        try:
            if not cls.gate.is_set():
                with cls.lock:
                    cls.held += 1
                try:
                    cls.gate.wait(60)
                finally:
                    with cls.lock:
                        cls.held -= 1
            return super().addresses(uuids)
        finally:
            with cls.lock:
                cls.active -= 1


SlowAddresses.gate.set()  # runs pass until the test holds them


async def test_address_lane_is_apart_from_the_stats_tick(
    guests: list[bed.Guest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.adapters.libvirt.connection import register_event_loop

    register_event_loop()
    monkeypatch.setattr(controller_mod, "ADDRESS_INTERVAL", 0.5)
    monkeypatch.setattr(controller_mod, "ADDRESS_SOON", 0.1)
    loop = asyncio.get_running_loop()
    errors: list[Any] = []
    runner = Runner(loop, lambda name, exc: errors.append((name, exc)))
    rec = Recorder()
    results: list[AddressMap] = []
    listener = rec.listener()
    listener.addresses = lambda _h, got: results.append(got)
    hosts: list[SlowAddresses] = []

    def make(events: HostEvents) -> SlowAddresses:
        hosts.append(SlowAddresses(bed.SYSTEM_URI, False, events))
        return hosts[-1]

    ctl = HostController(
        HostId.of(bed.SYSTEM_URI),
        make,
        runner,
        listener,
        refresh=lambda: 0.2,
        columns=lambda: ("cpu",),
    )
    ctl.start()
    try:
        await wait(lambda: len(rec.polled) >= 2, 30, "polls")
        await wait(lambda: len(results) >= 2, 30, f"two address runs ({rec.errors}, {errors})")
        # While an address run is held (a stuck agent), the stats polls go on at 0.2 s.
        SlowAddresses.gate.clear()
        await wait(lambda: SlowAddresses.held == 1, 10, "an address run held")
        runs, polls_before = SlowAddresses.runs, len(rec.polled)
        await wait(lambda: len(rec.polled) - polls_before >= 3, 30, "3 polls beside it")
        assert SlowAddresses.held == 1 and SlowAddresses.runs == runs  # no run beside it
        SlowAddresses.gate.set()
        await wait(lambda: SlowAddresses.active == 0, 10, "the held run done")
        ours = {g.uuid for g in guests}
        # Every running guest asked; none has an agent or a lease, so each is "not known"
        # and left out of the map ("ips": null, issue 24), not given [].
        assert hosts[-1].address_reader.calls["lease"] >= len(ours) * len(results)
        assert not ours & set(results[-1])
        # One run at a time; exactly one bulk stats call per applied poll.
        assert SlowAddresses.most == 1 and ctl.addr_lane.max_concurrent == 1
        session = hosts[-1].session
        assert session.calls >= len(rec.polled) - 1
        assert session.calls <= len(rec.polled) + 1  # at most the one in flight right now
        assert not errors, errors
    finally:
        SlowAddresses.gate.set()
        ctl.close()
        runner.close()


def test_agent_is_not_asked_on_a_readonly_connection(guests: list[bed.Guest]) -> None:
    host = LibvirtHost(
        bed.SYSTEM_URI, True, HostEvents(lambda e: None, lambda e: None, lambda r: None)
    )
    host.open()
    try:
        got = host.addresses(tuple(g.uuid for g in guests))
        assert got == {}  # no agent asked, no lease: not known, so left out (issue 24)
        calls = host.address_reader.calls
        assert calls["agent"] == 0 and calls["lease"] == len(guests)
    finally:
        host.close()
