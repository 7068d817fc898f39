"""Count libvirt lifecycle events on the host while the bench measures.

Other clients starting and stopping guests make every libvirt client (kvmdeck included) do
extra work: an event triggers a poll and XML reads. Windows with events are noisy; the
sections report how many each window saw and prefer the quiet ones.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time

import libvirt

_registered = False


class EventCounter:
    """Lifecycle events of every guest on ``uri``, stamped with time.monotonic()."""

    def __init__(self, uri: str) -> None:
        global _registered
        if not _registered:  # once per process; the bench process never uses libvirtaio
            libvirt.virEventRegisterDefaultImpl()
            _registered = True
        self.times: list[float] = []
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True, name="lvevents")
        self._thread.start()
        self._timer = libvirt.virEventAddTimeout(200, lambda *_a: None, None)  # wake up often
        self._conn = libvirt.open(uri)
        self._cb = self._conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None
        )

    def _on_event(self, *_args: object) -> None:
        self.times.append(time.monotonic())

    def _loop(self) -> None:
        while self._running:
            libvirt.virEventRunDefaultImpl()

    def between(self, t0: float, t1: float) -> int:
        return bisect.bisect_right(self.times, t1) - bisect.bisect_left(self.times, t0)

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.domainEventDeregisterAny(self._cb)
            self._conn.close()
        self._running = False
        self._thread.join(timeout=2)
        with contextlib.suppress(libvirt.libvirtError):
            libvirt.virEventRemoveTimeout(self._timer)
