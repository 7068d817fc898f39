"""Run ``run_rules`` in its own process with a scripted USB source (no USB bus on this VM).

Usage: python -m tests.rules.headless_child '{"once": true, "present": [["001","010"]],
"later": [[0.3, "add", "001", "009"]], "stop_after": 3}'
Everything else is real: qemu:///system, libvirtaio lifecycle events, the rules lock.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable

from tests.rules.helpers import event, usb
from tui.cli.wiring_usb import usb_services
from tui.core.usb.headless import run_rules
from tui.model.usb import UsbDevice, UsbEvent


class ScriptedSource:
    def __init__(self, present: list[UsbDevice], later: list[tuple[float, UsbEvent]]) -> None:
        self.present = present
        self.later = later
        self.stopped = False

    def start(
        self, loop: asyncio.AbstractEventLoop, on_events: Callable[[list[UsbEvent]], None]
    ) -> list[UsbDevice]:
        for delay, ev in self.later:
            loop.call_later(delay, on_events, [ev])
        return list(self.present)

    def stop(self) -> None:
        self.stopped = True

    def devices(self) -> list[UsbDevice]:
        return list(self.present)


def main() -> int:
    spec = json.loads(sys.argv[1])
    present = [usb(b, d) for b, d in spec.get("present", [])]
    later = [(t, event(a, usb(b, d))) for t, a, b, d in spec.get("later", [])]
    return run_rules(
        spec.get("uri", "qemu:///system"),
        once=spec.get("once", False),
        source=lambda: ScriptedSource(present, later),
        stop_after=spec.get("stop_after"),
        services=usb_services(),
    )


if __name__ == "__main__":
    raise SystemExit(main())
