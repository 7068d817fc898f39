"""Paced event generation and waiting, shared by the USB tests and bench/usb_latency.py."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from testbed.usb import MAX_BURST, UsbBed
from testbed.wait import until


async def churn(
    bed: UsbBed, count: int, seed: int, settled: Callable[[int], bool], ports: int = 12
) -> set[str]:
    """Send ``count`` random plug/unplug events over ``ports`` ports under the root hub.

    Bursts hold at most MAX_BURST events; after each burst we wait until ``settled(n_sent)``
    says the consumer has seen them (the testbed aborts when the netlink queue is full).
    Returns the sysfs paths plugged at the end.
    """
    assert bed.hub is not None
    rng = random.Random(seed)
    plugged: set[str] = set()  # ports
    sent = 0
    while sent < count:
        burst: list[tuple[str, int]] = []
        for _ in range(min(MAX_BURST, count - sent)):
            n = rng.randint(1, ports)
            port = f"1-{n}"
            if port in plugged:
                plugged.remove(port)
                burst.append(("unplug", n))
            else:
                plugged.add(port)
                burst.append(("plug", n))

        def send(items: list[tuple[str, int]] = burst) -> None:
            for verb, n in items:
                if verb == "plug":
                    bed.plug(f"1-{n}", 1, 20 + n, 0x1234, n, product=f"dev {n}")
                else:
                    bed.unplug(f"{bed.hub}/1-{n}")

        await asyncio.to_thread(send)
        sent += len(burst)
        await until(lambda n=sent: settled(n), f"{sent} events to arrive", 5.0)  # type: ignore[misc]
    return {f"{bed.hub}/{port}" for port in plugged}
