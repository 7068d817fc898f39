"""The app's USB side: the live feed, ownership, attach/detach, and auto-attach rules.

A mixin for :class:`tui.ui.app.KvmDeckApp`, kept apart so app.py stays about the dashboard.
Sources: pyudev on this machine (its fd on Textual's loop), or libvirt node devices for a
remote host. Every libvirt call runs in a thread worker of group ``usb`` (actions) or
``usb-owners`` (ownership refresh, exclusive: the newest wins).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import libvirt
from textual.app import App
from textual.message import Message
from textual.timer import Timer

from tui.adapters.libvirt.connection import is_remote, is_test_driver
from tui.core.usb.rules import Rule, RulesError, load_rules, save_rules
from tui.model.usb import UsbDevice, UsbEvent
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.picker import GuestPicker, Pick
from tui.ui.screens.usb import LOCAL_SOURCE, NO_RULES, UsbScreen, remote_source

if TYPE_CHECKING:  # the rest is imported where used: start-up pays only for the main screen
    from tui.adapters.libvirt.hostdev import UsbOwners
    from tui.adapters.libvirt.nodedev import NodeDeviceWatch
    from tui.adapters.libvirt.session import HostSession
    from tui.adapters.local.udev import UsbMonitor
    from tui.core.usb.engine import Request, RuleEngine
    from tui.ui.widgets.guest_table import GuestTable

log = logging.getLogger(__name__)


class UsbOwnersReady(Message):
    def __init__(self, owners: UsbOwners) -> None:
        super().__init__()
        self.owners = owners


class UsbActionDone(Message):
    def __init__(
        self, text: str, ok: bool, request: Request | None = None, error: str | None = None
    ) -> None:
        super().__init__()
        self.text = text
        self.ok = ok
        self.request = request
        self.error = error


class UsbMixin(App[int]):
    """USB wiring for KvmDeckApp (which provides the attributes declared below)."""

    sessions: list[HostSession]
    readonly: bool
    host_labels: list[str]
    usb_screen: UsbScreen
    usb_monitor: UsbMonitor | None = None
    usb_watch: NodeDeviceWatch | None = None
    rule_engine: RuleEngine | None = None
    usb_owners_now: UsbOwners | None = None
    _usb_running: dict[str, bool] | None = None
    _usb_owner_timer: Timer | None = None

    @property
    def table(self) -> GuestTable:
        raise NotImplementedError

    def log_event(self, text: str, wall: float | None = None, uuid: str | None = None) -> None:
        raise NotImplementedError

    # -- start / stop ---------------------------------------------------------------------
    def usb_setup(self) -> None:
        """The USB screen exists from the start (it takes events before it is first shown)."""
        self.usb_screen = UsbScreen(source=LOCAL_SOURCE)
        self.install_screen(self.usb_screen, name="usb")

    def usb_load_rules(self) -> None:
        from tui.core.usb.engine import RuleEngine
        from tui.core.usb.rulelock import RulesLock

        try:
            rules = load_rules()
        except RulesError as exc:
            rules = []
            self.notify(str(exc), title="USB rules not loaded", severity="error", timeout=15)
        self.rule_engine = RuleEngine(rules, lock=RulesLock.beside())
        self._show_rules()

    def usb_start_local(self) -> None:
        """Follow udev on this machine (the first host is local)."""
        from tui.adapters.local.udev import UsbMonitor, udev_daemon_running

        self.usb_screen.set_source(LOCAL_SOURCE, udev_running=udev_daemon_running())
        try:
            self.usb_monitor = UsbMonitor()
            devices = self.usb_monitor.start(asyncio.get_running_loop(), self._usb_events)
        except Exception as exc:  # no /sys, no netlink: the screen says so, the app goes on
            log.warning("USB monitor unavailable: %s", exc)
            self.usb_screen.set_source(f"USB feed unavailable: {exc}", udev_running=True)
            self.usb_monitor = None
            return
        self.usb_screen.set_devices(devices)
        self._engine_apply(self.rule_engine.sync(devices=devices) if self.rule_engine else [])
        self.set_interval(1.0, self._rules_tick, name="rules-tick")

    def usb_start_remote(self, host: int) -> None:
        """A remote (or demo) first host: its USB list comes from libvirt node devices."""
        s = self.sessions[host]
        conn = s.link.conn
        if conn is None:
            return
        if self.usb_watch is not None:
            self.usb_watch.stop()
        from tui.adapters.libvirt.nodedev import NodeDeviceWatch

        label = "the demo (test driver)" if is_test_driver(s.uri) else self.host_labels[host]
        self.usb_screen.set_source(remote_source(label), udev_running=True)
        try:
            self.usb_watch = NodeDeviceWatch(conn, self._usb_events)
            self.usb_screen.set_devices(self.usb_watch.start())
        except libvirt.libvirtError as exc:
            self.usb_screen.set_source(f"{remote_source(label)}: {exc.get_error_message()}")

    def usb_uses_libvirt(self) -> bool:
        uri = self.sessions[0].uri if self.sessions else None
        return is_remote(uri) or is_test_driver(uri)

    def usb_stop(self) -> None:
        if self.usb_monitor is not None:
            self.usb_monitor.stop()
        if self.usb_watch is not None:
            self.usb_watch.stop()
        if self.rule_engine is not None and self.rule_engine.lock is not None:
            self.rule_engine.lock.release()

    def action_usb(self) -> None:
        self.push_screen("usb")
        self.usb_refresh_owners()

    # -- feed -------------------------------------------------------------------------------
    def _usb_events(self, events: list[UsbEvent]) -> None:
        """From the monitor's reader on the loop: one call per wakeup with every pending event."""
        self.usb_screen.apply_events(events)
        for ev in events:
            if ev.action in ("add", "remove") and ev.device is not None:
                self.log_event(f"USB {ev.action}: {ev.device.label} ({ev.device.address})", ev.wall)
        if self.rule_engine is not None:
            self._engine_apply(self.rule_engine.on_usb_events(events))
        if any(ev.action == "remove" for ev in events):
            self.usb_refresh_owners()

    # -- ownership ----------------------------------------------------------------------------
    def usb_refresh_owners(self) -> None:
        """Re-read who owns what (on events, never per tick). A burst of events (guests
        starting and stopping) coalesces into one read, 0.3 s after the last of them."""
        timer = self._usb_owner_timer
        if timer is not None:
            timer.stop()
        self._usb_owner_timer = self.set_timer(0.3, self._owners_now, name="usb-owners")

    def _owners_now(self) -> None:
        self._usb_owner_timer = None
        if not self.sessions or self.sessions[0].link.conn is None:
            return
        self.run_worker(self._owners_work, thread=True, exclusive=True, group="usb-owners")

    def _owners_work(self) -> None:
        from tui.adapters.libvirt.hostdev import usb_owners

        conn = self.sessions[0].link.conn
        if conn is None:
            return
        try:
            self.post_message(UsbOwnersReady(usb_owners(conn)))
        except libvirt.libvirtError as exc:
            log.debug("usb owners: %s", exc)

    def on_usb_owners_ready(self, msg: UsbOwnersReady) -> None:
        self.usb_owners_now = msg.owners
        self.usb_screen.set_owners(by_address=msg.owners.by_address, by_ids=msg.owners.by_ids)
        if self.rule_engine is not None and self.usb_monitor is not None:
            devices = self.usb_monitor.devices()
            running = {s.name: s.state == "running" for s in self.table.samples.values()}
            self._engine_apply(
                self.rule_engine.sync(
                    devices=devices, running=running, attached=msg.owners.live_map(devices)
                )
            )

    def usb_guest_states(self, running: dict[str, bool]) -> None:
        """Host 0's guests after a poll: the engine learns which are running (when it changed)."""
        if self.rule_engine is None or running == self._usb_running:
            return
        self._usb_running = dict(running)
        self._engine_apply(self.rule_engine.sync(running=running))

    def usb_guest_event(self, name: str, kind: str) -> None:
        if self.rule_engine is not None:
            self._engine_apply(self.rule_engine.on_guest_event(name, kind))
        self.usb_refresh_owners()

    # -- attach / detach by hand --------------------------------------------------------------
    def _guest_choices(self) -> list[tuple[str, str]]:
        return sorted(
            (s.name, s.state) for k, s in self.table.samples.items() if k.startswith("0/")
        )

    def on_usb_screen_attach_requested(self, msg: UsbScreen.AttachRequested) -> None:
        if self.readonly:
            self.notify("Read-only connection: cannot attach USB devices.", severity="warning")
            return
        dev = msg.device
        owner = self.usb_owners_now.live_owner(dev) if self.usb_owners_now else None

        def picked(choice: Pick | None) -> None:
            if choice is None:
                return
            if owner and owner != choice.guest:

                def confirmed(yes: bool | None) -> None:
                    if yes:
                        self._usb_run(self._move_work, dev, owner, choice)

                self.push_screen(
                    ConfirmScreen(
                        f"{dev.label} is attached to '{owner}'. Detach it there and attach it "
                        f"to '{choice.guest}'?",
                        yes_label="Move",
                    ),
                    confirmed,
                )
                return
            self._usb_run(self._attach_work, dev, choice)

        self.push_screen(
            GuestPicker(
                f"Attach {dev.label} ({dev.ids}, {dev.address}) to:", self._guest_choices()
            ),
            picked,
        )

    def on_usb_screen_detach_requested(self, msg: UsbScreen.DetachRequested) -> None:
        if not msg.owner:
            self.notify(f"{msg.device.label} is not attached to any guest.", severity="warning")
            return
        if self.readonly:
            self.notify("Read-only connection: cannot detach USB devices.", severity="warning")
            return
        self._usb_run(self._detach_work, msg.device, msg.owner)

    def on_usb_screen_rule_requested(self, msg: UsbScreen.RuleRequested) -> None:
        dev = msg.device

        def picked(choice: Pick | None) -> None:
            if choice is None or self.rule_engine is None:
                return
            rule = Rule(
                vendor_id=dev.vendor_id,
                product_id=dev.product_id,
                guest=choice.guest,
                serial=dev.serial or None,
                persistent=choice.persistent,
            )
            rules = [r for r in self.rule_engine.rules if r.selector != rule.selector] + [rule]
            self._replace_rules(rules, f"{rule.describe()}")

        self.push_screen(
            GuestPicker(f"Always attach {dev.label} ({dev.ids}) to:", self._guest_choices()),
            picked,
        )

    def on_usb_screen_forget_rule_requested(self, msg: UsbScreen.ForgetRuleRequested) -> None:
        dev = msg.device
        if self.rule_engine is None:
            return
        keep = [r for r in self.rule_engine.rules if not r.matches(dev)]
        gone = len(self.rule_engine.rules) - len(keep)
        if not gone:
            self.notify(f"No rule matches {dev.label} ({dev.ids}).", severity="warning")
            return
        self._replace_rules(keep, f"removed {gone} rule(s) for {dev.label}")

    def _replace_rules(self, rules: list[Rule], what: str) -> None:
        """Save ``rules`` to rules.toml (atomically) and hand them to the engine."""
        if self.rule_engine is None:
            return
        try:
            path = save_rules(rules)
        except (OSError, RulesError) as exc:
            self.notify(f"Rules not saved: {exc}", severity="error")
            return
        self.notify(f"Saved to {path}: {what}")
        self._engine_apply(self.rule_engine.set_rules(rules))

    def _usb_run(self, fn: Any, *args: Any) -> None:
        self.run_worker(partial(fn, *args), thread=True, group="usb", name="usb action")

    def _present(self) -> list[UsbDevice]:
        return self.usb_monitor.devices() if self.usb_monitor is not None else []

    def _attach_work(self, dev: UsbDevice, choice: Pick) -> None:
        from tui.adapters.libvirt.hostdev import HostdevError, attach

        conn = self.sessions[0].link.conn
        try:
            res = attach(
                conn,
                dev,
                live=True,
                config=choice.persistent,
                guest=choice.guest,
                present=self._present(),
            )
        except HostdevError as exc:
            self.post_message(
                UsbActionDone(f"Attach {dev.label} to {choice.guest} failed: {exc}", False)
            )
            return
        note = f" ({res.config_error})" if getattr(res, "config_error", None) else ""
        self.post_message(UsbActionDone(f"{dev.label} attached to {choice.guest}{note}", True))

    def _detach_from(self, dev: UsbDevice, owner: str) -> bool:
        """Detach (live) and report a failure; True when the device is free now."""
        from tui.adapters.libvirt.hostdev import HostdevError, detach

        try:
            detach(self.sessions[0].link.conn, dev, live=True, config=False, guest=owner)
        except HostdevError as exc:
            self.post_message(
                UsbActionDone(f"Detach {dev.label} from {owner} failed: {exc}", False)
            )
            return False
        return True

    def _detach_work(self, dev: UsbDevice, owner: str) -> None:
        if self._detach_from(dev, owner):
            self.post_message(UsbActionDone(f"{dev.label} detached from {owner}", True))

    def _move_work(self, dev: UsbDevice, owner: str, choice: Pick) -> None:
        if self._detach_from(dev, owner):
            self._attach_work(dev, choice)

    # -- rules --------------------------------------------------------------------------------
    def _engine_apply(self, requests: list[Request]) -> None:
        for req in requests:
            self.run_worker(partial(self._rule_work, req), thread=True, group="usb", name="rule")
        self._show_rules()

    def _rule_work(self, req: Request) -> None:
        from tui.adapters.libvirt import hostdev

        conn = self.sessions[0].link.conn if self.sessions else None
        what = f"rule: {req.device.label} → {req.guest} ({req.reason})"
        if conn is None:
            self.post_message(
                UsbActionDone(f"{what}: host not connected", False, req, "host not connected")
            )
            return
        try:
            hostdev.execute(conn, req, self._present())
        except hostdev.HostdevError as exc:
            self.post_message(UsbActionDone(f"{what} failed: {exc}", False, req, str(exc)))
            return
        self.post_message(UsbActionDone(what, True, req, None))

    def on_usb_action_done(self, msg: UsbActionDone) -> None:
        self.notify(msg.text, severity="information" if msg.ok else "error", timeout=8)
        self.log_event(msg.text)
        if msg.request is not None and self.rule_engine is not None:
            self._engine_apply(self.rule_engine.on_result(msg.request, msg.error))
        self.usb_refresh_owners()

    def _rules_tick(self) -> None:
        if self.rule_engine is not None:
            self._engine_apply(self.rule_engine.tick())

    def _show_rules(self) -> None:
        if self.rule_engine is None:
            return
        if not self.rule_engine.rules:
            self.usb_screen.set_rules_status(NO_RULES)
            return
        lines = [
            f"rule {st.rule.describe()}: {st.state}{' — ' + st.message if st.message else ''}"
            for st in self.rule_engine.statuses()
        ]
        self.usb_screen.set_rules_status("\n".join(lines))
