"""The app's USB side: the USB screen, the device feed and host 0's USB coordinator.

The app makes one :class:`UsbFeature` and calls its hooks (mount, start, stop, host_connected,
guests_changed, lifecycle, device_event, show); the USB screen calls its actions
(:class:`tui.ui.screens.usb.UsbActions`). Decisions live in
:class:`tui.core.usb.coordinator.UsbCoordinator`; the adapters come from
:class:`tui.core.usb.ports.UsbServices`. Only host 0 has USB.

Threading: every blocking call (owners, attach, detach, node-device listing and event
registration, rules.toml I/O) goes through :meth:`UsbFeature.submit`, the one place that hands
work to a thread (the app's runner when it has one, else a Textual thread worker). Results and
feed events arrive on the loop's thread. Nothing here blocks quit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from textual.app import App
from textual.timer import Timer

from tui.config import Settings
from tui.core.ports import UsbHostPort
from tui.core.usb.coordinator import UsbCoordinator
from tui.core.usb.doctor import Finding, usb_findings
from tui.core.usb.host_doctor import host_findings
from tui.core.usb.ports import DeviceFeed, UsbServices
from tui.core.usb.requests import UsbNote
from tui.core.usb.rules import Rule
from tui.model.fleet import Fleet
from tui.model.usb import UsbDevice, UsbEvent
from tui.model.usb_doctor import LOCAL, REMOTE, GuestUsbFacts, HostProbe, UsbHostStatus
from tui.ui.deck import deck_of
from tui.ui.screens.usb import LOCAL_SOURCE, UsbScreen, remote_source

log = logging.getLogger(__name__)
T = TypeVar("T")

USB_HOST = 0  # only the first host has USB


class UsbFeature:
    """USB for the app: hooks for the app, actions for the USB screen."""

    def __init__(
        self,
        app: App[int] | App[None],
        services: UsbServices | None,
        readonly: bool,
        settings: Settings | None,
        *,
        rules_file: Path | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        self.app = app
        self.services = services
        self._readonly = readonly
        self.settings = settings
        self.fleet = fleet  # the app's (host 0 is its first host); None: a bare test app
        self.coordinator = UsbCoordinator(
            self,
            rules_file=rules_file,
            readonly=readonly,
            on_note=self._note,
            on_update=self._update,
        )
        self.screen: UsbScreen | None = None
        self.local_feed: DeviceFeed | None = None
        self.remote_feed: DeviceFeed | None = None
        self.node_devices: bool | None = None  # None until host 0 connected once
        self.started = False
        self.stopped = False
        self._guests: dict[str, bool] = {}
        self._tick: Timer | None = None
        self._port: UsbHostPort | None = None  # host 0's USB family, once connected
        self._push_queued = False

    # -- the one way to blocking work --------------------------------------------------
    def submit(
        self,
        name: str,
        fn: Callable[[], T],
        done: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], bool | None] | None = None,
    ) -> None:
        """Run ``fn`` in a daemon thread; ``done``/``failed`` on the loop (the app's runner)."""
        runner = deck_of(self.app).runner
        assert runner is not None  # made before the USB feature
        runner.submit(name, fn, done, failed)

    # -- hooks for the app ---------------------------------------------------------------
    def mount(self) -> None:
        """The main screen is mounted: install the USB screen (it takes events before it is
        first shown)."""
        self.screen = UsbScreen(
            actions=self,
            show_root_hubs=self.settings is not None and self.settings.show_root_hubs,
        )
        self.app.install_screen(self.screen, name="usb")
        self._push()

    def start(self) -> None:
        """After the first guest frame: rules, the local feed (unless host 0 is remote or the
        demo), the retry tick."""
        if self.started or self.stopped:
            return
        self.started = True
        self.coordinator.rulebook.load_rules()
        if self.node_devices is not True:
            self._start_local()
        self._tick = self.app.set_interval(1.0, self.coordinator.tick, name="usb-rules-tick")

    def stop(self) -> None:
        """Quit: stop the feeds and the tick; nothing here waits for a host."""
        if self.stopped:
            return
        self.stopped = True
        if self._tick is not None:
            self._tick.stop()
        for feed in (self.local_feed, self.remote_feed):
            if feed is not None:
                feed.stop()
        self.local_feed = self.remote_feed = None
        self.coordinator.close()

    def host_connected(self, host_index: int, port: UsbHostPort, label: str) -> None:
        """Host ``host_index`` is up, with this USB family (bound to its new connection)."""
        if host_index != USB_HOST or self.services is None or self.stopped:
            return
        self.node_devices = port.node_devices
        self._port = port
        self.coordinator.set_port(port.hostdev())
        if not self.node_devices:
            if self.started:
                self._start_local()
            return
        if self.local_feed is not None:
            self.local_feed.stop()
            self.local_feed = None
        if self.remote_feed is not None:
            self.remote_feed.stop()
        feed = port.device_feed()
        self.remote_feed = feed
        source = remote_source(label or "the host")
        nodedev = UsbHostStatus(REMOTE)  # the host's own udev names them
        self.coordinator.set_source(source, nodedev)
        loop = asyncio.get_running_loop()

        def listed(_devices: list[UsbDevice]) -> None:
            if feed is not self.remote_feed:  # replaced (reconnect) or stopped meanwhile
                feed.stop()
                return
            note = feed.note  # node-device events refused: it lists instead
            if note:
                self._log(f"USB of {label or 'the host'}: {note}")
                self.coordinator.set_source(f"{source} ({note})", nodedev)
            # The feed's set now: events that arrived while it listed are in it already.
            self._set_devices(feed.devices())

        def failed(exc: BaseException) -> bool:
            if feed is self.remote_feed:
                self.coordinator.set_source(source, UsbHostStatus(REMOTE, error=str(exc)))
            log.warning("USB node devices unavailable: %s", exc)
            return True

        self.submit("usb node devices", lambda: feed.start(loop, self._usb_events), listed, failed)

    def guests_changed(self, host_index: int, running: dict[str, bool]) -> None:
        if host_index == USB_HOST:
            self._guests = dict(running)
            self.coordinator.guests_changed(running)

    def lifecycle(self, host_index: int, name: str, kind: str) -> None:
        if host_index == USB_HOST:
            self.coordinator.guest_event(name, kind)

    def device_event(self, host_index: int, uuid: str) -> None:
        if host_index == USB_HOST:
            self.coordinator.refresh_owners()

    def show(self) -> None:
        """The ``u`` key."""
        if self.screen is None:
            return
        self.app.push_screen("usb")
        self.coordinator.refresh_owners()

    # -- the feed ----------------------------------------------------------------------
    def _start_local(self) -> None:
        if self.local_feed is not None or self.services is None or self.screen is None:
            return
        services = self.services
        status = services.local_status()
        self.coordinator.set_source(LOCAL_SOURCE, status)
        try:
            feed = services.local_feed()
            devices = feed.start(asyncio.get_running_loop(), self._usb_events)
        except Exception as exc:  # no /sys, no netlink: the screen says so, the app goes on
            log.warning("USB monitor unavailable: %s", exc)
            error = f"the USB monitor did not start: {exc}"
            self.coordinator.set_source(LOCAL_SOURCE, replace(status, error=error))
            return
        self.local_feed = feed
        self._set_devices(devices)

    def _set_devices(self, devices: list[UsbDevice]) -> None:
        self.coordinator.set_devices(devices)

    def _usb_events(self, events: list[UsbEvent]) -> None:
        """From a feed, on the loop: one call per wakeup with every pending event. The
        coordinator first: a rule's attach starts in its worker before the screen and the
        event log do their work on the loop (the lab: 1-4 s under TCG when it came last)."""
        if self.stopped:
            return
        self.coordinator.usb_events(events)
        if self.screen is not None:
            self.screen.log_events(events)
        for ev in events:
            if ev.action in ("add", "remove") and ev.device is not None:
                self._log(f"USB {ev.action}: {ev.device.label} ({ev.device.address})", ev.wall)

    # -- output --------------------------------------------------------------------------
    def _log(self, text: str, wall: float | None = None) -> None:
        deck_of(self.app).log_event(text, wall)

    def _note(self, note: UsbNote) -> None:
        if note.ok:
            self.app.notify(note.text, timeout=8, markup=False)
        else:
            self.app.notify(note.text, severity="error", timeout=8, markup=False)
        self._log(note.text, note.wall)

    def _update(self) -> None:
        """The coordinator changed: one snapshot for the screen per loop turn, however many
        changes came in it (a burst of events, a snapshot and its rule results)."""
        if self._push_queued or self.screen is None:
            return
        self._push_queued = True
        self.app.call_later(self._push)

    def _push(self) -> None:
        self._push_queued = False
        if self.screen is not None:
            self.screen.show(self.coordinator.view())

    # -- actions for the USB screen (tui.ui.screens.usb.UsbActions) ------------------------
    @property
    def readonly(self) -> bool:
        return self._readonly

    def guest_choices(self) -> list[tuple[str, str]]:
        """(name, state) of host 0's guests, for the picker."""
        guests = self._guests or self.coordinator.running
        return sorted((n, "running" if up else "shut off") for n, up in guests.items())

    def live_owner(self, device: UsbDevice) -> str | None:
        return self.coordinator.live_owner(device)

    def attach(self, device: UsbDevice, guest: str, persistent: bool) -> str | None:
        return self.coordinator.attach(device, guest, persistent)

    def move(self, device: UsbDevice, owner: str, guest: str, persistent: bool) -> str | None:
        return self.coordinator.move(device, owner, guest, persistent)

    def detach(self, device: UsbDevice, guest: str) -> str | None:
        return self.coordinator.detach(device, guest)

    def add_rule(
        self, device: UsbDevice, guest: str, persistent: bool, by: str = "auto"
    ) -> str | None:
        return self.coordinator.rulebook.add_rule(device, guest, persistent, by)

    def forget_rules(self, device: UsbDevice) -> str | None:
        return self.coordinator.rulebook.forget_rules(device)

    def forget_rule(self, rule: Rule) -> str | None:
        return self.coordinator.rulebook.forget_rule(rule)

    def diagnose(self, device: UsbDevice | None, done: Callable[[list[Finding]], None]) -> None:
        """The USB doctor for ``device`` (None: the host's report): the host probes in a
        thread (``UsbHostPort.probe``), then ``done(findings)`` on the loop."""
        coordinator = self.coordinator
        present = list(coordinator.devices.values())
        findings: Callable[..., list[Finding]]
        if device is None:
            findings = functools.partial(
                host_findings, coordinator.host, present=present, guests=self._guest_facts()
            )
        else:
            findings = functools.partial(
                usb_findings,
                device,
                present=present,
                owners=coordinator.owners,
                guests=self._guest_facts(),
                targets=sorted({r.guest for r in coordinator.rulebook.matching(device)}),
            )
        port = self._port
        if port is None or (device is not None and device.is_root_hub):  # nothing to probe
            done(findings())
            return

        def probed(found: HostProbe | None) -> None:
            done(findings(probe=found))

        def failed(exc: BaseException) -> bool:
            probed(HostProbe(LOCAL, error=f"the probes failed: {type(exc).__name__}: {exc}"))
            return isinstance(exc, OSError)  # anything else: the one error handler too

        self.submit("usb doctor", lambda: port.probe(device), probed, failed)

    def _guest_facts(self) -> list[GuestUsbFacts]:
        """Host 0's guests and their USB controllers, from the fleet's facts (XML already
        read by the polls); without a fleet, the guests the polls reported."""
        fleet = self.fleet
        if fleet is None or not fleet.hosts:
            guests = self._guests or self.coordinator.running
            return [GuestUsbFacts(n, up, None) for n, up in sorted(guests.items())]
        out = []
        for g in list(fleet.hosts.values())[USB_HOST].guests.values():
            display = g.info.display if g.info is not None else None
            ctl = display.usb_controllers if display is not None else None
            out.append(GuestUsbFacts(g.name, g.sample.running, ctl))
        return sorted(out, key=lambda f: f.name)


__all__ = ["UsbFeature"]
