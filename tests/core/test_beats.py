"""Polls on the beats (issue 23, idle CPU): every host's next poll is due on a multiple of the
refresh, so hosts that connected at different moments poll together, once a refresh, and the
UI renders their results together. Hosts of libvirt's own test driver (testbed/fleet.py);
nothing faked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from testbed.fleet import make_fleet
from tests.core.test_controller import Recorder, wait
from tui.adapters.libvirt.host import LibvirtHost
from tui.core.controller import HostController
from tui.core.runner import Runner
from tui.model.ids import HostId

REFRESH = 1.0


def on_beat(t: float) -> bool:
    """On a multiple of the refresh (call_later reads the clock a few us after the delay was
    computed from it: that much off)."""
    return abs(t - round(t / REFRESH) * REFRESH) < 0.005


async def test_hosts_that_connected_apart_poll_on_the_same_beats(tmp_path: Path) -> None:
    from tui.adapters.libvirt.connection import register_event_loop

    register_event_loop()
    fleet = make_fleet(tmp_path / "fleet", hosts=3, guests=4)
    loop = asyncio.get_running_loop()
    runner = Runner(loop, lambda name, exc: None)
    ctls: list[HostController] = []
    dues: dict[int, list[float]] = {i: [] for i in range(3)}

    def note(i: int) -> None:  # after the poll's result: its next poll is timed by now
        due = ctls[i].polls.due
        if due is not None:
            dues[i].append(due)

    try:
        for i, uri in enumerate(fleet.uris):
            rec = Recorder()
            listener = rec.listener()
            listener.polled = lambda _h, _s, _r, i=i: loop.call_soon(note, i)
            ctl = HostController(
                HostId.of(uri),
                lambda events, uri=uri: LibvirtHost(uri, True, events),
                runner,
                listener,
                refresh=lambda: REFRESH,
                columns=lambda: ("cpu",),
            )
            ctls.append(ctl)
            ctl.start()
            await asyncio.sleep(0.37)  # each host connects and polls first at its own moment
        await wait(lambda: all(len(d) >= 3 for d in dues.values()), 30, f"3 polls each: {dues}")
    finally:
        for ctl in ctls:
            ctl.close()
        runner.close()
        fleet.close()
    # Every next poll was due on a beat, whenever the host had connected ...
    assert all(on_beat(t) for d in dues.values() for t in d), dues
    # ... so the hosts share their beats: one wakeup a refresh polls them all.
    beats = [{round(t / REFRESH) for t in d} for d in dues.values()]
    shared = beats[0] & beats[1] & beats[2]
    assert shared, dues
