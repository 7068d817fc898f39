"""The USB screen: device table, rules, event log, where the data comes from, and its keys.

The screen holds no USB state: the coordinator (:class:`tui.core.usb.coordinator.
UsbCoordinator`) does, and :class:`tui.ui.usb_feature.UsbFeature` pushes its snapshots here
(:meth:`UsbScreen.show`, a :class:`tui.core.usb.view.UsbView`; it works before the screen is
first shown) and the feed's event batches to the log (:meth:`UsbScreen.log_events`). When the
host cannot show USB (no USB bus, no udev daemon, USB unreadable) a banner says so, with what to
do. The keys are handled here (picker, confirmation, messages) and carried out by the
:class:`UsbActions` given to the screen (the feature, which hands them to the coordinator).
Rules are rows of their own (Tab moves between devices and rules): ``D`` forgets the selected
rule whether or not its device is plugged in. ``w`` opens the USB doctor
(:mod:`tui.ui.screens.usb_doctor`) for the selected device, or the host's report without one.
Every string a device supplies is shown as plain text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from tui.core.usb.doctor import Finding, usb_findings
from tui.core.usb.host_doctor import host_findings, host_problems
from tui.core.usb.requests import RuleStatus
from tui.core.usb.rules import Rule, match_choices
from tui.core.usb.view import UsbView
from tui.model.display import Level
from tui.model.usb import UsbDevice, UsbEvent
from tui.ui import actions
from tui.ui.deck import deck_of
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.picker import GuestPicker, Pick
from tui.ui.screens.usb_doctor import UsbDoctorScreen
from tui.ui.widgets.footer import KeysFooter
from tui.ui.widgets.usb_rules import UsbRulesTable
from tui.ui.widgets.usb_table import UsbEventLog, UsbTable
from tui.util import terminal_safe

LOCAL_SOURCE = "udev on this host"
NO_RULES = "No auto-attach rules (R on a device makes one)."
RULES_HINT = "Rules, first match wins (Tab: select one; D forgets it, plugged in or not):"
NO_ACTIONS = "USB actions are not available here."
NOTHING_SELECTED = "No USB device selected"


def remote_source(host: str) -> str:
    return f"libvirt node devices of {host}"


class UsbActions(Protocol):
    """What the screen's keys need (implemented by :class:`tui.ui.usb_feature.UsbFeature`).

    The action methods return why they refused (shown as a warning) or None when the work was
    started; its outcome arrives later as a notification and an event-log line."""

    @property
    def readonly(self) -> bool: ...

    def guest_choices(self) -> list[tuple[str, str]]: ...

    def live_owner(self, device: UsbDevice) -> str | None: ...

    def attach(self, device: UsbDevice, guest: str, persistent: bool) -> str | None: ...

    def move(self, device: UsbDevice, owner: str, guest: str, persistent: bool) -> str | None: ...

    def detach(self, device: UsbDevice, guest: str) -> str | None: ...

    def add_rule(
        self, device: UsbDevice, guest: str, persistent: bool, by: str = "auto"
    ) -> str | None: ...

    def forget_rules(self, device: UsbDevice) -> str | None: ...

    def forget_rule(self, rule: Rule) -> str | None: ...

    def diagnose(self, device: UsbDevice | None, done: Callable[[list[Finding]], None]) -> None:
        """The USB doctor for ``device`` (None: the host's report): ``done(findings)`` on the
        loop, once the probes ran."""
        ...


def banner_text(view: UsbView) -> Text:
    """What keeps the host from showing USB, each with its fix; empty when nothing does."""
    text = Text()
    for f in host_problems(view.host):
        if text:
            text.append("\n")
        style = "bold red" if f.status is Level.FAIL else "bold yellow"
        text.append(terminal_safe(f.detail), style=style)  # an OS error is not ours
        if f.fix:
            text.append(f". Fix: {f.fix}.")
    return text


class UsbScreen(Screen[None]):
    # 80x24: the table takes two thirds of what the lines around it leave, the event log the
    # rest (at least 4 lines); the rules list shows at most 6 lines (then it scrolls).
    DEFAULT_CSS = """
    UsbScreen #usb-source { height: 1; padding: 0 1; color: $text-muted; }
    UsbScreen #usb-warning { height: auto; max-height: 4; padding: 0 1; }
    UsbScreen #usb-warning.-hidden { display: none; }
    UsbScreen #usb-table { height: 2fr; min-height: 4; }
    UsbScreen #usb-rules-head {
        height: auto; max-height: 3; padding: 0 1; color: $text-muted;
        border-top: solid $panel;
    }
    UsbScreen #usb-rules { height: auto; max-height: 5; }
    UsbScreen #usb-rules.-hidden { display: none; }
    UsbScreen #usb-log { height: 1fr; min-height: 4; max-height: 14; }
    """

    BINDINGS = actions.bindings("usb")

    def __init__(
        self,
        name: str | None = None,
        id: str | None = None,
        actions: UsbActions | None = None,
        show_root_hubs: bool = False,
    ) -> None:
        super().__init__(name=name, id=id)
        self.actions = actions
        self.view = UsbView()
        self.table = UsbTable(id="usb-table", show_root_hubs=show_root_hubs)
        self.rules_table = UsbRulesTable(id="usb-rules")
        self.event_log = UsbEventLog(id="usb-log")
        self.source_line = Static("", id="usb-source", markup=False)
        self.warning_line = Static("", id="usb-warning", markup=False, classes="-hidden")
        self.rules_line = Static(NO_RULES, id="usb-rules-head", markup=False)

    def compose(self) -> ComposeResult:
        yield self.source_line
        yield self.warning_line
        yield self.table
        yield self.rules_line
        yield self.rules_table
        yield self.event_log
        yield KeysFooter()

    def on_mount(self) -> None:
        self._paint(None)
        self.table.focus()

    # -- fed by the feature ----------------------------------------------------------------
    def show(self, view: UsbView) -> None:
        """Render a snapshot of the coordinator (before mount: drawn once mounted)."""
        if view.version == self.view.version and view is self.view:
            return
        old, self.view = self.view, view
        self.table.show(view)
        self.rules_table.show(view.rules)
        if self.is_mounted:
            self._paint(old)

    def log_events(self, events: list[UsbEvent]) -> None:
        """A batch from the feed, for the event log (the devices come with the next view)."""
        self.event_log.log_events(events)

    @property
    def warning_shown(self) -> bool:
        return not self.warning_line.has_class("-hidden")

    @property
    def banner(self) -> str:
        """The banner's text ("" when hidden): no USB bus, no udev, USB unreadable."""
        return banner_text(self.view).plain

    def _paint(self, old: UsbView | None) -> None:
        view = self.view
        if old is None or (view.source, view.host) != (old.source, old.host):
            self.source_line.update(Text(terminal_safe(view.source)))
            banner = banner_text(view)
            self.warning_line.update(banner)
            self.warning_line.set_class(not banner, "-hidden")
        if old is None or (view.rules, view.rules_problem, view.rules_loaded) != (
            old.rules,
            old.rules_problem,
            old.rules_loaded,
        ):
            head = RULES_HINT if view.rules else NO_RULES
            if view.rules_problem:
                head = f"{view.rules_problem}\n{head}" if view.rules else view.rules_problem
            self.rules_line.update(Text(terminal_safe(head, multiline=True)))
            self.rules_table.set_class(not view.rules, "-hidden")

    # -- keys ---------------------------------------------------------------------------
    def _say(self, text: str, severity: str = "warning") -> None:
        self.notify(text, severity=severity, markup=False)  # type: ignore[arg-type]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """--readonly: the mutating USB keys are greyed in the footer (the registry decides)."""
        return actions.check_state(action, parameters, deck_of(self).readonly)

    def _allowed(self, action_id: str) -> UsbActions | None:
        if actions.refuse(deck_of(self), action_id):
            return None
        if self.actions is None:
            self._say(NO_ACTIONS)
            return None
        if self.actions.readonly:
            self._say("Read-only (--readonly): USB devices and rules are not changed here.")
            return None
        return self.actions

    def _ready(self, action_id: str) -> tuple[UsbDevice, UsbActions] | None:
        if actions.refuse(deck_of(self), action_id):
            return None
        device = self.table.selected_device
        if device is None:
            self._say(self._why_no_device())
            return None
        allowed = self._allowed(action_id)
        return (device, allowed) if allowed is not None else None

    def _why_no_device(self) -> str:
        """No device selected: say why there is none when the host cannot show any."""
        problems = host_problems(self.view.host)
        if not self.table.devices and problems:
            return f"{NOTHING_SELECTED}: {problems[0].detail}."
        return NOTHING_SELECTED

    @property
    def _rules_focused(self) -> bool:
        return self.rules_table.has_focus

    def _refused(self, why: str | None) -> None:
        if why:
            self._say(why)

    def action_go_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_toggle_root_hubs(self) -> None:
        shown = self.table.toggle_root_hubs()
        self.notify(f"Root hubs {'shown' if shown else 'hidden'}", timeout=1.5)

    def action_attach(self) -> None:
        ready = self._ready("usb.attach")
        if ready is None:
            return
        dev, actions = ready
        owner = actions.live_owner(dev)

        def picked(choice: Pick | None) -> None:
            if choice is None:
                return
            if owner == choice.guest:
                self._say(f"{dev.label} is already attached to {owner}.", "information")
                return
            if not owner:
                self._refused(actions.attach(dev, choice.guest, choice.persistent))
                return

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._refused(actions.move(dev, owner, choice.guest, choice.persistent))

            question = (
                f"{dev.label} is attached to '{owner}'. Detach it there and attach it to "
                f"'{choice.guest}'?"
            )
            self.app.push_screen(ConfirmScreen(question, yes_label="Move"), confirmed)

        title = f"Attach {dev.label} ({dev.ids}, {dev.address}) to:"
        self.app.push_screen(GuestPicker(title, actions.guest_choices()), picked)

    def action_detach(self) -> None:
        ready = self._ready("usb.detach")
        if ready is None:
            return
        dev, actions = ready
        owner = actions.live_owner(dev) or self.table.owner_of(dev)
        if not owner:
            self._say(f"{dev.label} is not attached to any guest.")
            return
        self._refused(actions.detach(dev, owner))

    def action_rule(self) -> None:
        ready = self._ready("usb.rule")
        if ready is None:
            return
        dev, actions = ready

        def picked(choice: Pick | None) -> None:
            if choice is not None:
                by = choice.match or "auto"
                self._refused(actions.add_rule(dev, choice.guest, choice.persistent, by))

        title = f"Always attach {dev.label} ({dev.ids}) to:"
        matches = match_choices(dev)  # by serial / by vendor:product / by port alone
        self.app.push_screen(GuestPicker(title, actions.guest_choices(), matches=matches), picked)

    def action_forget_rule(self) -> None:
        """``D``: on the rules list, forget the selected rule (plugged in or not); on the
        devices, the rules matching the selected device."""
        if self._rules_focused:
            status = self.rules_table.selected_rule
            if status is None:
                self._say("No rule selected")
                return
            allowed = self._allowed("usb.forget_rule")
            if allowed is not None:
                self._forget(allowed, status)
            return
        ready = self._ready("usb.forget_rule")
        if ready is not None:
            dev, actions = ready
            self._refused(actions.forget_rules(dev))

    def _forget(self, actions: UsbActions, status: RuleStatus) -> None:
        rule = status.rule

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._refused(actions.forget_rule(rule))

        where = "" if status.device is None else f" (its device {status.device.label} is here)"
        question = f"Forget the rule {rule.describe()}{where}?"
        self.app.push_screen(ConfirmScreen(question, yes_label="Forget"), confirmed)

    def action_doctor(self) -> None:
        """``w``: the USB doctor for the selected device; on the rules list or without a
        device, the host's report (works under --readonly too)."""
        device = None if self._rules_focused else self.table.selected_device
        screen = UsbDoctorScreen(device)
        self.app.push_screen(screen)
        if self.actions is None:  # no host: what the device (or the view) itself says
            view = self.view
            found = (
                usb_findings(device)
                if device is not None
                else host_findings(view.host, present=list(view.devices.values()))
            )
            screen.show(found)
            return
        self.actions.diagnose(device, screen.show)
