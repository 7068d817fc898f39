"""Single-flight scheduling and the store's sequence rule, on a real asyncio loop."""

from __future__ import annotations

import asyncio

from tui.core.scheduler import SingleFlight
from tui.model.fleet import Fleet
from tui.model.guest import GuestSample
from tui.model.host import PollResult
from tui.model.ids import GuestKey, HostId
from tui.model.link import LinkReport, LinkState


async def test_requests_during_a_run_start_one_more_run_after_it() -> None:
    loop = asyncio.get_running_loop()
    running: list[int] = []
    started: list[int] = []

    def start(seq: int) -> None:
        running.append(seq)
        started.append(seq)

    flight = SingleFlight(loop, start)
    flight.request(0.0)
    await asyncio.sleep(0.01)
    assert started == [1] and flight.in_flight == 1
    for _ in range(50):  # an event burst while the run is in flight
        flight.request(0.0)
    await asyncio.sleep(0.02)
    assert started == [1], "a second run started while one was in flight"
    assert flight.dirty
    assert flight.finish(1)
    running.remove(1)
    flight.next(interval=60.0, soon=0.0)  # dirty: the next run comes soon, not in 60 s
    await asyncio.sleep(0.02)
    assert started == [1, 2]
    assert flight.max_concurrent == 1


async def test_a_late_result_of_an_abandoned_run_is_refused() -> None:
    loop = asyncio.get_running_loop()
    hung: list[int] = []
    flight = SingleFlight(loop, lambda seq: None, deadline=0.05, on_deadline=hung.append)
    flight.request(0.0)
    await asyncio.sleep(0.1)
    assert hung == [1] and flight.in_flight is None  # abandoned at its deadline
    flight.request(0.0)
    await asyncio.sleep(0.01)
    assert flight.in_flight == 2
    assert flight.finish(2)  # the newer run answers first
    assert not flight.finish(1)  # the abandoned one answers later: older, refused


async def test_cancel_refuses_the_result_of_the_run_in_flight() -> None:
    loop = asyncio.get_running_loop()
    flight = SingleFlight(loop, lambda seq: None)
    flight.request(0.0)
    await asyncio.sleep(0.01)
    flight.cancel()  # e.g. the connection was lost
    assert not flight.finish(1)


def _sample(uuid: str, cpu: float) -> GuestSample:
    return GuestSample("g", uuid, "running", 1, 1, cpu_pct=cpu)


def test_the_store_never_lets_an_older_poll_overwrite_a_newer_one() -> None:
    fleet = Fleet()
    host = HostId("qemu:///system")
    fleet.add_host(host, "h")
    fleet.apply_link(host, LinkReport(host.uri, LinkState.UP))
    new = fleet.apply_poll(host, 3, PollResult(host.uri, [_sample("u1", 30.0)], 0.0, 0))
    assert new.added == {GuestKey(host, "u1")}
    old = fleet.apply_poll(host, 2, PollResult(host.uri, [_sample("u1", 20.0)], 0.0, 0))
    assert not old
    guest = fleet.guest(GuestKey(host, "u1"))
    assert guest is not None and guest.sample.cpu_pct == 30.0
