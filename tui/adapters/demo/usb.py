"""Demo USB: the test driver's node devices, plugged and unplugged now and then, and hostdev
attach/detach simulated in memory (the test driver has no ``attachDeviceFlags``).

:class:`DemoUsbFeed` (a :class:`tui.core.usb.ports.DeviceFeed`) lists the test driver's USB
node devices, then every ``period`` seconds unplugs the demo's serial adapter and plugs it back
in with a new device number, as a real replug does. :class:`DemoHostdev` (a
:class:`tui.core.usb.ports.HostdevPort`) starts from the guests' real (test-driver) XML and
records attachments in memory; ``owners()`` reflects them. Every simulated device and result
says "(demo)".
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tui.model.domain import UsbHostdev
from tui.model.usb import (
    GuestUsb,
    HostdevError,
    HostdevResult,
    UsbDevice,
    UsbEvent,
    UsbOwner,
    UsbOwners,
    as_entry,
    describe_device,
    libvirt_would_match,
)
from tui.model.usb_doctor import DEMO, HostProbe

if TYPE_CHECKING:
    from tui.adapters.libvirt.held import Using
    from tui.adapters.libvirt.host import LibvirtHost

DEMO_MARK = " (demo)"
PLUG_PERIOD_S = 20.0
PLUGGED_NAME = "usb_2_3"  # the demo's FT232 serial adapter comes and goes
SIMULATED = "simulated (demo)"

EventsCallback = Callable[[list[UsbEvent]], None]


def mark(dev: UsbDevice) -> UsbDevice:
    """The device as the demo shows it: its product says "(demo)"; root hubs stay as they are."""
    if dev.is_root_hub or dev.product_name.endswith(DEMO_MARK):
        return dev
    return dataclasses.replace(dev, product_name=dev.product_name + DEMO_MARK)


class DemoUsbFeed:
    """The test driver's USB node devices, with a simulated replug every ``period`` seconds.

    :meth:`start` blocks briefly (it lists node devices; call it from a worker thread, as the
    app does for any node-device feed); the timer then runs on ``loop``, where ``on_events``
    is called. :meth:`step` makes the next plug/unplug happen now (tests, and the timer).
    """

    note = ""  # a DeviceFeed's: nothing missing

    def __init__(self, using: Using, period: float = PLUG_PERIOD_S) -> None:
        self.using = using  # the host's counted connection (tui/adapters/libvirt/held.py)
        self.period = period
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_events: EventsCallback | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._known: dict[str, UsbDevice] = {}
        self._away: UsbDevice | None = None  # the unplugged device, until it comes back
        self._stopped = False
        self._lock = threading.Lock()

    def start(self, loop: asyncio.AbstractEventLoop, on_events: EventsCallback) -> list[UsbDevice]:
        from tui.adapters.libvirt.nodedev import libvirt_usb_devices

        with self.using() as conn:
            devices = [mark(d) for d in libvirt_usb_devices(conn)]
        with self._lock:
            self._known = {d.sys_path: d for d in devices}
            self._loop, self._on_events = loop, on_events
        if self.period > 0:
            loop.call_soon_threadsafe(self._arm)
        return sorted(devices, key=lambda d: d.sys_path)

    def _arm(self) -> None:
        if self._stopped or self._loop is None:
            return
        self._timer = self._loop.call_later(self.period, self._fire)

    def _fire(self) -> None:
        self.step()
        self._arm()

    def step(self) -> UsbEvent | None:
        """Unplug the demo's plugging device, or plug it back in (new device number). Runs on
        the loop's thread; returns the event it delivered."""
        with self._lock:
            if self._stopped or self._on_events is None:
                return None
            if self._away is None:
                dev = self._known.pop(PLUGGED_NAME, None)
                if dev is None:
                    return None
                self._away = dev
                event = UsbEvent("remove", dev, dev.sys_path, time.time())
            else:
                dev = dataclasses.replace(self._away, devnum=self._away.devnum % 120 + 1)
                self._away = None
                self._known[dev.sys_path] = dev
                event = UsbEvent("add", dev, dev.sys_path, time.time())
            deliver = self._on_events
        deliver([event])
        return event

    def stop(self) -> None:
        self._stopped = True
        timer, self._timer = self._timer, None
        if timer is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(timer.cancel)

    def devices(self) -> list[UsbDevice]:
        with self._lock:
            return sorted(self._known.values(), key=lambda d: d.sys_path)


class DemoHostdev:
    """A :class:`tui.core.usb.ports.HostdevPort` that attaches and detaches in memory.

    Each guest's hostdevs start from its test-driver XML (read on first use); attachments then
    live here. A guest that stops loses its live entries, as a real one does.
    """

    def __init__(self, real: Any) -> None:
        self.real = real  # the host's CountedHostdev: each read on its counted connection
        self._lock = threading.Lock()
        self._live: dict[str, list[UsbHostdev]] = {}
        self._saved: dict[str, list[UsbHostdev]] = {}

    def _facts(self, guest: str) -> GuestUsb:
        real = self.real.inspect(guest)  # raises HostdevError for an unknown guest
        with self._lock:
            if guest not in self._saved:
                self._live[guest] = list(real.live)
                self._saved[guest] = list(real.saved)
            if not real.active:
                self._live[guest] = []
            return GuestUsb(
                real.name,
                real.active,
                real.persistent,
                tuple(self._live[guest]),
                tuple(self._saved[guest]),
            )

    def inspect(self, guest: str) -> GuestUsb:
        return self._facts(guest)

    def apply_attach(
        self,
        guest: str,
        dev: UsbDevice,
        *,
        live: bool,
        config: bool,
        config_address: bool,
        note: str = "",
    ) -> HostdevResult:
        facts = self._facts(guest)
        if live and not facts.active:
            raise HostdevError(
                "guest-stopped",
                f"Cannot attach {describe_device(dev)} to guest '{guest}': the guest is not "
                f"running{DEMO_MARK}",
                guest=guest,
                device=dev,
            )
        with self._lock:
            if live:
                self._live[guest].append(as_entry(dev, True))
            if config:
                entry = dataclasses.replace(
                    as_entry(dev, config_address), startup_policy="optional"
                )
                if any(libvirt_would_match(entry, e) for e in self._saved[guest]):
                    raise HostdevError(
                        "invalid",
                        f"Cannot attach {describe_device(dev)} to guest '{guest}': the guest's "
                        f"saved config already holds it{DEMO_MARK}",
                        guest=guest,
                        device=dev,
                    )
                self._saved[guest].append(entry)
        note = f"{note}; {SIMULATED}" if note else SIMULATED
        return HostdevResult("attach", guest, dev, live, config, (), note)

    def apply_detach(
        self,
        guest: str,
        dev: UsbDevice,
        *,
        live_entry: UsbHostdev | None,
        config_entry: UsbHostdev | None,
    ) -> HostdevResult:
        self._facts(guest)
        with self._lock:
            for entries, entry in (
                (self._live[guest], live_entry),
                (self._saved[guest], config_entry),
            ):
                if entry is not None and entry in entries:
                    entries.remove(entry)
        return HostdevResult(
            "detach", guest, dev, live_entry is not None, config_entry is not None, (), SIMULATED
        )

    def owners(self) -> UsbOwners:
        result = UsbOwners()
        try:
            states = self.real.guest_states()
        except HostdevError as exc:
            return UsbOwners(errors=[str(exc)])
        for name in states:
            try:
                facts = self._facts(name)
            except HostdevError as exc:  # vanished between list and read
                result.errors.append(str(exc))
                continue
            saved = list(facts.saved)
            for h in facts.live:
                match = next(
                    (s for s in saved if libvirt_would_match(s, h) and _same_ids(s, h)), None
                )
                if match is not None:
                    saved.remove(match)
                result.entries.append(UsbOwner(name, "", h, True, match is not None))
            for h in saved:
                result.entries.append(UsbOwner(name, "", h, False, True))
        result.index()
        return result

    def guest_states(self) -> dict[str, bool]:
        return self.real.guest_states()

    def watch_guests(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        return self.real.watch_guests(callback)


def _same_ids(a: UsbHostdev, b: UsbHostdev) -> bool:
    return (a.vendor, a.product) == (b.vendor, b.product)


class DemoUsb:
    """The demo's :class:`tui.core.ports.UsbHostPort`: the test driver's node devices with a
    simulated replug (:class:`DemoUsbFeed`), attach/detach in memory (:class:`DemoHostdev`),
    no host probes (the devices are made up)."""

    def __init__(self, link: LibvirtHost) -> None:  # on the test driver
        self.link = link

    @property
    def node_devices(self) -> bool:
        return True

    def hostdev(self) -> DemoHostdev:
        from tui.adapters.libvirt.families import CountedHostdev

        return DemoHostdev(CountedHostdev(self.link))

    def device_feed(self) -> DemoUsbFeed:
        from tui.adapters.libvirt.families import using

        link = self.link
        return DemoUsbFeed(lambda: using(link))

    def probe(self, device: UsbDevice | None) -> HostProbe:
        return HostProbe(DEMO)


__all__ = ["DemoHostdev", "DemoUsb", "DemoUsbFeed", "mark"]
