"""SVG snapshots of the header (hosts bar + host panel) with 2 to 256 CPUs, at 80x24 and 160x48:
the real app, the demo driver's fixed guests, a fixed host sample with N per-CPU loads.

Update on purpose with: .venv/bin/pytest tests/snapshots/test_host_panel.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support import fixed
from tests.support.apps import fixed_app
from tui.adapters.libvirt.connection import demo_uri
from tui.model.fleet import Change
from tui.model.host import PollResult
from tui.model.link import LinkReport, LinkState
from tui.ui.app import KvmDeckApp

CPUS = (2, 16, 64, 128, 256)
SIZES = ((80, 24), (160, 48))


def inject_cpus(n: int) -> Callable[[Any], Awaitable[None]]:
    async def inject(pilot: Any) -> None:
        app: KvmDeckApp = pilot.app
        while not app.controllers:
            await pilot.pause(0.01)
        host = app.host_order[0]
        fleet = app.fleet
        app.changed(fleet.apply_link(host, LinkReport(demo_uri(), LinkState.UP)))
        for i in range(30):  # a fixed half-minute of history for the sparklines
            fleet.local_history.cpu.append(float((i * 7) % 23 * 4))
            fleet.local_history.disk.append(float((i * 5) % 11 * 150_000))
        app.changed(fleet.apply_host_sample(fixed.host_sample_cpus(n)))
        info = {i.uuid: i for i in fixed.demo_domains()}
        result = PollResult(demo_uri(), fixed.guest_samples(), 0.001, 0, None, info)
        app.changed(fleet.apply_poll(host, 1, result))
        app.changed(Change(hosts=frozenset({host}), link=True))
        await pilot.pause()
        await pilot.pause()

    return inject


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("cpus", CPUS, ids=lambda n: f"{n}cpus")
def test_host_panel(snap_compare, cpus: int, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=size, run_before=inject_cpus(cpus))
