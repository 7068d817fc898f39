"""Open a host and take its first poll before the UI exists (start-up, bench P5).

``kvmdeck`` starts these in daemon threads first thing, then imports Textual (0.4 s here)
while libvirt connects and answers: the first frame then shows guests as soon as the screen
is up. The controller adopts the result; events that arrive before that are dropped (the
next poll shows what they said).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tui.core.ports import HostBackend
from tui.model.backend import HostEvents
from tui.model.events import DeviceEvent, LifecycleEvent
from tui.model.host import PollResult

ALL_COLUMNS = ("cpu", "mem", "disk", "net")


class Prefetch:
    def __init__(
        self,
        make_backend: Callable[[HostEvents], HostBackend],
        columns: tuple[str, ...] = ALL_COLUMNS,
    ) -> None:
        self.backend: HostBackend | None = None
        self.result: PollResult | None = None
        self.error: BaseException | None = None
        self._sink: HostEvents | None = None
        self._done = threading.Event()
        events = HostEvents(self._lifecycle, self._device, self._lost)
        threading.Thread(
            target=self._run,
            args=(make_backend, events, columns),
            name="kvmdeck:prefetch",
            daemon=True,
        ).start()

    def _run(
        self,
        make_backend: Callable[[HostEvents], HostBackend],
        events: HostEvents,
        columns: tuple[str, ...],
    ) -> None:
        try:
            backend = make_backend(events)
            backend.open()
            self.backend = backend
        except BaseException as exc:  # handed to whoever waits
            self.error = exc
            self._done.set()
            return
        try:
            self.result = backend.poll(columns)
        except BaseException:  # connected: the controller's own first poll will say why
            self.result = None
        finally:
            self._done.set()

    def wait(self) -> tuple[HostBackend, PollResult | None]:
        """Block until done (call from a thread); raise what opening raised."""
        self._done.wait()
        if self.error is not None:
            raise self.error
        assert self.backend is not None
        return self.backend, self.result

    def adopt(self, sink: HostEvents) -> None:
        """From now on, the backend's events go to ``sink`` (call on the event loop)."""
        self._sink = sink

    # libvirt's callbacks, on the event loop
    def _lifecycle(self, ev: LifecycleEvent) -> None:
        if self._sink is not None:
            self._sink.lifecycle(ev)

    def _device(self, ev: DeviceEvent) -> None:
        if self._sink is not None:
            self._sink.device(ev)

    def _lost(self, reason: str) -> None:
        if self._sink is not None:
            self._sink.lost(reason)
