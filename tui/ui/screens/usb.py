"""The USB screen: device table, event log, where the data comes from, and its own actions.

The screen does not start a source: :class:`tui.ui.usb_feature.UsbFeature` owns the feed and
feeds the screen with :meth:`set_devices` and :meth:`apply_events` (both work before the screen
is first shown). The keys are handled here (picker, confirmation, messages) and carried out by
the :class:`UsbActions` given to the screen (the feature, which hands them to the coordinator).
``w`` opens the USB doctor (:mod:`tui.ui.screens.usb_doctor`) for the selected device.
Every string a device supplies is shown as plain text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from tui.core.usb.doctor import Finding, usb_findings
from tui.core.usb.rules import match_choices
from tui.model.usb import UsbDevice, UsbEvent
from tui.ui import actions
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.picker import GuestPicker, Pick
from tui.ui.screens.usb_doctor import UsbDoctorScreen
from tui.ui.widgets.footer import KeysFooter
from tui.ui.widgets.usb_table import OwnerKey, UsbEventLog, UsbTable
from tui.util import terminal_safe

LOCAL_SOURCE = "udev on this host"
NO_UDEV_WARNING = "no udev daemon: names from sysfs, no bind events"
NO_RULES = "No auto-attach rules (R on a device makes one)."
NO_ACTIONS = "USB actions are not available here."


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

    def diagnose(self, device: UsbDevice, done: Callable[[list[Finding]], None]) -> None:
        """The USB doctor: ``done(findings)`` on the loop, once the probes ran."""
        ...


class UsbScreen(Screen[None]):
    # 80x24: the table takes two thirds of what the lines around it leave, the event log the
    # rest (at least 4 lines); the rules line shows at most RULE_LINES lines.
    DEFAULT_CSS = """
    UsbScreen #usb-source { height: 1; padding: 0 1; color: $text-muted; }
    UsbScreen #usb-warning { height: 1; padding: 0 1; color: $warning; }
    UsbScreen #usb-warning.-hidden { display: none; }
    UsbScreen #usb-table { height: 2fr; min-height: 4; }
    UsbScreen #usb-rules {
        height: auto; max-height: 4; padding: 0 1; color: $text-muted;
        border-top: solid $panel;
    }
    UsbScreen #usb-log { height: 1fr; min-height: 4; max-height: 14; }
    """
    RULE_LINES = 3

    BINDINGS = actions.bindings("usb")

    def __init__(
        self,
        source: str = LOCAL_SOURCE,
        udev_running: bool = True,
        devices: Iterable[UsbDevice] = (),
        name: str | None = None,
        id: str | None = None,
        actions: UsbActions | None = None,
        show_root_hubs: bool = False,
    ) -> None:
        super().__init__(name=name, id=id)
        self.actions = actions
        self.table = UsbTable(id="usb-table", show_root_hubs=show_root_hubs)
        self.event_log = UsbEventLog(id="usb-log")
        self.source_line = Static(terminal_safe(source), id="usb-source", markup=False)
        self.warning_line = Static(NO_UDEV_WARNING, id="usb-warning", markup=False)
        self.rules_line = Static(NO_RULES, id="usb-rules", markup=False)
        self._source = source
        self._udev_running = udev_running
        self.table.set_devices(devices)

    def compose(self) -> ComposeResult:
        yield self.source_line
        yield self.warning_line
        yield self.table
        yield self.rules_line
        yield self.event_log
        yield KeysFooter()

    def on_mount(self) -> None:
        self._show_source()
        self.table.focus()

    # -- feeding ------------------------------------------------------------------------
    def set_source(self, source: str, udev_running: bool = True) -> None:
        """``udev_running`` only matters for the local source (libvirt names come from the
        remote host's own udev)."""
        self._source = source
        self._udev_running = udev_running
        if self.is_mounted:
            self._show_source()

    def set_devices(self, devices: Iterable[UsbDevice]) -> None:
        self.table.set_devices(devices)

    def apply_events(self, events: list[UsbEvent]) -> None:
        """Feed a batch from the monitor (the ``on_events`` callback of a device feed)."""
        self.table.apply_events(events)
        self.event_log.log_events(events)

    def set_owners(
        self,
        by_address: dict[OwnerKey, str] | None = None,
        by_ids: dict[OwnerKey, str] | None = None,
    ) -> None:
        self.table.set_owners(by_address, by_ids)

    def set_rules_status(self, text: str) -> None:
        """One line per rule and its state (attached, pending, failed …), as plain text.

        At most :attr:`RULE_LINES` lines show, then how many more (``kvmdeck rules --list``
        lists them all)."""
        lines = text.splitlines()
        if len(lines) > self.RULE_LINES:
            more = len(lines) - (self.RULE_LINES - 1)
            lines = [*lines[: self.RULE_LINES - 1], f"… {more} more (kvmdeck rules --list)"]
        self.rules_line.update(Text("\n".join(terminal_safe(line) for line in lines)))

    @property
    def warning_shown(self) -> bool:
        return not self.warning_line.has_class("-hidden")

    def _show_source(self) -> None:
        self.source_line.update(Text(terminal_safe(self._source)))
        self.warning_line.set_class(self._udev_running, "-hidden")

    # -- keys ---------------------------------------------------------------------------
    def _say(self, text: str, severity: str = "warning") -> None:
        self.notify(text, severity=severity, markup=False)  # type: ignore[arg-type]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """--readonly: the mutating USB keys are greyed in the footer (the registry decides)."""
        return actions.check_state(action, parameters, bool(getattr(self.app, "readonly", False)))

    def _ready(self, action_id: str) -> tuple[UsbDevice, UsbActions] | None:
        if actions.refuse(self.app, action_id):
            return None
        device = self.table.selected_device
        if device is None:
            self._say("No USB device selected")
            return None
        if self.actions is None:
            self._say(NO_ACTIONS)
            return None
        if self.actions.readonly:
            self._say("Read-only (--readonly): USB devices and rules are not changed here.")
            return None
        return device, self.actions

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
        ready = self._ready("usb.forget_rule")
        if ready is not None:
            dev, actions = ready
            self._refused(actions.forget_rules(dev))

    def action_doctor(self) -> None:
        """``w``: the USB doctor for the selected device (works under --readonly too)."""
        device = self.table.selected_device
        if device is None:
            self._say("No USB device selected")
            return
        screen = UsbDoctorScreen(device)
        self.app.push_screen(screen)
        if self.actions is None:  # no host: what the device itself says
            screen.show(usb_findings(device))
            return
        self.actions.diagnose(device, screen.show)
