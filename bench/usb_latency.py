"""USB hot-plug latency: plug -> UsbMonitor callback, and plug -> row painted in a Pilot app.

Run under umockdev-wrapper (the testbed's fake netlink socket needs it)::

    umockdev-wrapper .venv/bin/python -m bench.usb_latency [--plugs 100]

Plugs are paced: one at a time, each unplugged again before the next. The plug time is the
testbed process's ``time.monotonic()`` just before ``add_device`` sends the uevent
(CLOCK_MONOTONIC is shared by both processes). "Row visible" is the first ``render_line`` of the
table whose text holds the new device's name, which is when the compositor paints it.
The target (bench issue) is p95 <= 50 ms over 100 plugs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import pyudev
from rich.segment import Segment
from textual.app import App
from textual.strip import Strip

from testbed.usb import Missing, NotWrapped, UsbBed
from testbed.wait import until
from tui.adapters.local.udev import UsbMonitor
from tui.core.runner import Runner
from tui.core.usb.coordinator import UsbCoordinator
from tui.model.usb import UsbEvent
from tui.ui.screens.usb import UsbScreen

TARGET_P95_MS = 50.0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(name: str, millis: list[float]) -> dict[str, Any]:
    return {
        "name": name,
        "n": len(millis),
        "p50_ms": round(statistics.median(millis), 2),
        "p95_ms": round(percentile(millis, 95), 2),
        "max_ms": round(max(millis), 2),
    }


async def plug_to_callback(bed: UsbBed, plugs: int) -> list[float]:
    """Latency from plug to the UsbMonitor callback, in ms, one paced plug at a time."""
    monitor = UsbMonitor(pyudev.Context())
    seen: dict[str, float] = {}

    def on_events(events: list[UsbEvent]) -> None:
        now = time.monotonic()
        for event in events:
            if event.action == "add":
                seen.setdefault(event.sys_path, now)

    monitor.start(asyncio.get_running_loop(), on_events)
    out = []
    try:
        for i in range(plugs):
            sent = await asyncio.to_thread(bed.plug, "1-3", 1, 30 + i % 90, 0x1234, 0x0001)
            await until(lambda p=sent.path: p in seen, "the add callback", 5.0, step=0.002)  # type: ignore[misc]
            out.append((seen.pop(sent.path) - sent.t) * 1000)
            await asyncio.to_thread(bed.unplug, sent.path)
            await until(lambda p=sent.path: p not in monitor.known, "the remove", 5.0, step=0.002)  # type: ignore[misc]
    finally:
        monitor.stop()
    return out


class PaintWatch:
    """Wraps a widget's ``render_line`` and notes when a wanted text is first painted."""

    def __init__(self, render_line: Callable[[int], Strip]) -> None:
        self._render_line = render_line
        self.wanted: str | None = None
        self.painted_at: float | None = None

    def __call__(self, y: int) -> Strip:
        strip = self._render_line(y)
        if self.wanted is not None and self.painted_at is None:
            text = "".join(seg.text for seg in strip if isinstance(seg, Segment))
            if self.wanted in text:
                self.painted_at = time.monotonic()
        return strip


class BenchApp(App[None]):
    """The app's path: the monitor feeds the USB coordinator, the screen renders its
    snapshots (no host connection, so no owners reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.monitor = UsbMonitor(pyudev.Context())
        self.usb = UsbScreen()
        self.paint = PaintWatch(self.usb.table.render_line)
        self.usb.table.render_line = self.paint  # type: ignore[method-assign]

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        self.runner = Runner(loop, lambda _name, _exc: None)
        self.coord = UsbCoordinator(self.runner, on_update=self.push)
        self.push_screen(self.usb)
        self.coord.set_devices(self.monitor.start(loop, self.on_events))

    def push(self) -> None:
        self.usb.show(self.coord.view())

    def on_events(self, events: list[UsbEvent]) -> None:
        self.coord.usb_events(events)
        self.usb.log_events(events)

    def on_unmount(self) -> None:
        self.monitor.stop()
        self.coord.close()
        self.runner.close()


async def plug_to_row(bed: UsbBed, plugs: int) -> list[float]:
    """Latency from plug to the row being painted in a headless Pilot app, in ms."""
    app = BenchApp()
    out: list[float] = []
    async with app.run_test(size=(120, 30)):
        table = app.usb.table
        for i in range(plugs):
            name = f"bench device {i:04d}"
            app.paint.wanted, app.paint.painted_at = name, None
            sent = await asyncio.to_thread(
                bed.plug, "1-4", 1, 30 + i % 90, 0x1234, 0x0002, product=name
            )
            await until(
                lambda: app.paint.painted_at is not None, f"{name} painted", 5.0, step=0.002
            )
            assert app.paint.painted_at is not None
            out.append((app.paint.painted_at - sent.t) * 1000)
            app.paint.wanted = None
            await asyncio.to_thread(bed.unplug, sent.path)
            await until(lambda p=sent.path: p not in table.rows, "the row to go", 5.0, step=0.002)
    return out


async def run(plugs: int) -> list[dict[str, Any]]:
    results = []
    with UsbBed.start() as bed:
        os.environ["UMOCKDEV_DIR"] = bed.root
        results.append(summary("plug->monitor callback", await plug_to_callback(bed, plugs)))
    with UsbBed.start() as bed:
        os.environ["UMOCKDEV_DIR"] = bed.root
        results.append(summary("plug->row painted", await plug_to_row(bed, plugs)))
    os.environ.pop("UMOCKDEV_DIR", None)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugs", type=int, default=100)
    args = parser.parse_args(argv)
    try:
        results = asyncio.run(run(args.plugs))
    except (Missing, NotWrapped) as exc:
        print(f"usb_latency: {exc}", file=sys.stderr)
        return 2
    worst = 0.0
    for r in results:
        print(
            f"{r['name']:<24} n={r['n']:<4} p50={r['p50_ms']:7.2f} ms  "
            f"p95={r['p95_ms']:7.2f} ms  max={r['max_ms']:7.2f} ms"
        )
        worst = max(worst, r["p95_ms"])
    verdict = "PASS" if worst <= TARGET_P95_MS else "FAIL"
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
