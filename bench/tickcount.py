"""P2's call count: kvmdeck headless (``run_test``) for N seconds; bulk calls per stats tick.

Runs in its own process (libvirtaio binds one event loop per process), normally with the
libvirt client RPC log switched on by the caller, and prints one JSON object::

    .venv/bin/python -m bench.tickcount --uri qemu:///system --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import libvirt

from bench import rpclog
from tui.adapters.libvirt.connection import silence_libvirt_errors
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions


async def measure(uri: str, seconds: float, refresh: float, warmup_s: float) -> dict[str, Any]:
    app = make_app(AppOptions(uris=[uri], refresh=refresh, vt_badge="KVM: bench"))

    async with app.run_test(size=(160, 45)) as pilot:
        while not app.controllers:
            await pilot.pause(0.01)
        host = app.host_order[0]
        controller = app.controllers[host]

        def ticks_now() -> int:
            """Polls applied to the store (one per stats tick)."""
            return app.fleet.host(host).polls

        async def next_tick() -> None:
            """Return just after the store took a tick (calls and ticks then agree)."""
            seen, end = ticks_now(), time.monotonic() + 30
            while ticks_now() == seen and time.monotonic() < end:
                await asyncio.sleep(0.002)

        await next_tick()
        await pilot.pause(warmup_s)
        assert controller.backend is not None
        session = controller.backend.session  # type: ignore[attr-defined]
        events: list[float] = []  # lifecycle events of any guest on the host (other clients')
        conn = libvirt.open(uri)  # its own: libvirt takes one lifecycle callback per connection
        if conn is not None:
            conn.domainEventRegisterAny(
                None,
                libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                lambda *_a: events.append(time.monotonic()),
                None,
            )
        await next_tick()
        calls0, ticks0, t0, w0 = session.calls, ticks_now(), time.monotonic(), rpclog.utc_now()
        await pilot.pause(seconds)
        await next_tick()
        calls1, ticks1, t1, w1 = session.calls, ticks_now(), time.monotonic(), rpclog.utc_now()
        guests = len(app.fleet.host(host).guests)
        n_events = sum(1 for t in events if t0 <= t <= t1)
        conn.close()
    return {
        "lifecycle_events": n_events,
        "ticks": ticks1 - ticks0,
        "bulk_calls": calls1 - calls0,
        "seconds": round(t1 - t0, 2),
        "guests": guests,
        "window_utc": [w0.isoformat(), w1.isoformat()],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bulk stats calls per tick, headless")
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--refresh", type=float, default=1.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    silence_libvirt_errors()
    result = asyncio.run(measure(args.uri, args.seconds, args.refresh, args.warmup))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
