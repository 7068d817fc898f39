"""A fault never freezes the display (issue 24, item 1).

A unix-socket proxy in front of the real libvirtd cuts the connection in the middle of a call
(tests/support/faultproxy.py). libvirt then runs its close callback in the thread whose call
failed; on main that thread reached the app's render queue, and the screen froze for good
while polls went on. Here the proxied host is cut again and again: after each cut a guest
paused with the real libvirtd shows as paused, the event log shows the loss, and the other
host's rows and the local host panel keep moving.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from testbed import bed, faultproxy
from tui.cli.wiring import make_app
from tui.model.host import HostSample
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.widgets.host_panel import HostPanel

pytestmark = pytest.mark.libvirtd

CUTS = 6


def row_state(app: KvmDeckApp, name: str) -> str | None:
    """The state the guest table shows (its samples are what the last frame drew)."""
    for s in app.table.samples.values():
        if s.name == name:
            return str(s.state)
    return None


def event_lines(app: KvmDeckApp) -> str:
    return "\n".join(str(x) for x in app.query_one("#events").lines)  # type: ignore[attr-defined]


async def wait_until(pilot: Any, pred: Any, deadline_s: float, what: str) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        await pilot.pause(0.1)
    app = pilot.app
    raise AssertionError(
        f"timed out after {deadline_s} s waiting for {what}; "
        f"{len(app._pending)} changes unrendered, watchdog stalls {getattr(app, 'stalls', '?')}; "
        f"event log:\n{event_lines(app)}"
    )


async def test_cuts_in_the_middle_of_a_call_never_freeze_the_display(libvirtd: Any) -> None:
    guest = bed.create_transient(libvirtd, 0, tag="cut")
    try:
        with faultproxy.running() as proxy:
            app = make_app(
                AppOptions(uris=["test:///default", proxy.uri], vt_badge="KVM: test", refresh=1.0)
            )
            async with app.run_test(size=(170, 45)) as pilot:
                await wait_until(
                    pilot, lambda: row_state(app, guest.name) == "running", 30, "the guest row"
                )
                await wait_until(pilot, lambda: row_state(app, "test"), 10, "the test host's row")
                panel = app.main_screen.query_one(HostPanel)
                dom = libvirtd.lookupByUUIDString(guest.uuid)
                for cut in range(CUTS):
                    lost_before = event_lines(app).count("connection lost")
                    shown: HostSample | None = panel.sample
                    proxy.cut()  # the next call on the proxied host fails mid-flight
                    await wait_until(
                        pilot,
                        lambda n=lost_before: event_lines(app).count("connection lost") > n,
                        20,
                        f"cut {cut}: the loss in the event log",
                    )
                    dom.suspend()
                    await wait_until(
                        pilot,
                        lambda: row_state(app, guest.name) == "paused",
                        20,
                        f"cut {cut}: the suspended guest shown as paused",
                    )
                    dom.resume()
                    await wait_until(
                        pilot,
                        lambda: row_state(app, guest.name) == "running",
                        20,
                        f"cut {cut}: the resumed guest shown as running",
                    )
                    # The local host panel kept moving, and the other host's row is still there.
                    assert shown is not None
                    await wait_until(
                        pilot,
                        lambda s=shown: panel.sample is not None and panel.sample.t > s.t,
                        10,
                        f"cut {cut}: the host panel moving",
                    )
                    assert row_state(app, "test") == "running"
                assert app.stalls == 0  # fixed at the root, not rescued by the watchdog
    finally:
        bed.remove(libvirtd, guest)


class HungSampler:
    """A local host sampler that never returns. A fake: psutil cannot be made to hang on
    demand (it would on a dead NFS mount or a stuck /proc read)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def sample(self) -> HostSample:
        self.gate.wait()
        raise RuntimeError("released")


async def test_the_watchdog_shows_a_stalled_pipeline_and_releases_it() -> None:
    """The first host's polls wait for the host sample they trigger (one repaint a tick). A
    sample that never comes held them for ever on main: an empty table that looked live.
    The watchdog says so in the event log and on screen, then shows the rows."""
    sampler = HungSampler()
    app = make_app(AppOptions(uris=["test:///default"], vt_badge="KVM: test", refresh=1.0))
    app.services.host_sampler = lambda _loopback: sampler
    try:
        async with app.run_test(size=(170, 45)) as pilot:
            await wait_until(pilot, lambda: row_state(app, "test") == "running", 15, "the row")
            await wait_until(
                pilot,
                lambda: "display stalled: the host sample did not come" in event_lines(app),
                10,
                "the stall in the event log",
            )
            assert app.stalls >= 1
            # Later polls are not held for the stuck sample: each one is drawn when it comes,
            # and the stall is said once, not at every tick.
            host = app.host_order[0]
            applied = app.fleet.host(host).seq
            await wait_until(
                pilot, lambda: app.fleet.host(host).seq > applied + 2, 10, "later polls"
            )
            assert event_lines(app).count("display stalled") == 1
    finally:
        sampler.gate.set()
