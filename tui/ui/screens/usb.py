"""The USB screen: device table, event log, where the data comes from, attach/detach requests.

The screen does not start a source. The app owns the :class:`tui.adapters.local.udev.UsbMonitor` (or a
libvirt ``NodeDeviceWatch`` for a remote host) and feeds the screen with :meth:`set_devices`
and :meth:`apply_events`; both work before the screen is first shown. Attach and detach keys
post :class:`UsbScreen.AttachRequested` / :class:`UsbScreen.DetachRequested`, which bubble to
the app.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.model.usb import UsbDevice, UsbEvent
from tui.ui.widgets.usb_table import OwnerKey, UsbEventLog, UsbTable

LOCAL_SOURCE = "udev on this host"
NO_UDEV_WARNING = "no udev daemon: names from sysfs, no bind events"
NO_RULES = "No auto-attach rules (R on a device makes one)."


def remote_source(host: str) -> str:
    return f"libvirt node devices of {host}"


class UsbScreen(Screen[None]):
    DEFAULT_CSS = """
    UsbScreen #usb-source { height: 1; padding: 0 1; color: $text-muted; }
    UsbScreen #usb-warning { height: 1; padding: 0 1; color: $warning; }
    UsbScreen #usb-warning.-hidden { display: none; }
    UsbScreen #usb-rules { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "go_back", "Back", id="usb.back"),
        Binding("r", "toggle_root_hubs", "Root hubs", id="usb.root_hubs"),
        Binding("a", "attach", "Attach", id="usb.attach"),
        Binding("d", "detach", "Detach", id="usb.detach"),
        Binding("R", "rule", "Always attach (rule)", id="usb.rule"),
        Binding("D", "forget_rule", "Forget rule", id="usb.forget_rule"),
    ]

    class AttachRequested(Message):
        """The user asked to attach ``device`` to a guest (the app picks or asks which)."""

        def __init__(self, device: UsbDevice) -> None:
            super().__init__()
            self.device = device

    class DetachRequested(Message):
        """The user asked to detach ``device`` from the guest that owns it."""

        def __init__(self, device: UsbDevice, owner: str) -> None:
            super().__init__()
            self.device = device
            self.owner = owner

    class RuleRequested(Message):
        """The user asked to always attach ``device`` to a guest (an auto-attach rule)."""

        def __init__(self, device: UsbDevice) -> None:
            super().__init__()
            self.device = device

    def __init__(
        self,
        source: str = LOCAL_SOURCE,
        udev_running: bool = True,
        devices: Iterable[UsbDevice] = (),
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.table = UsbTable(id="usb-table")
        self.event_log = UsbEventLog(id="usb-log")
        self.source_line = Static(source, id="usb-source")
        self.warning_line = Static(NO_UDEV_WARNING, id="usb-warning")
        self.rules_line = Static(NO_RULES, id="usb-rules")
        self._source = source
        self._udev_running = udev_running
        self.table.set_devices(devices)

    def compose(self) -> ComposeResult:
        yield self.source_line
        yield self.warning_line
        yield self.table
        yield self.rules_line
        yield self.event_log
        yield Footer()

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
        """Feed a batch from the monitor (the ``on_events`` callback of ``UsbMonitor.start``)."""
        self.table.apply_events(events)
        self.event_log.log_events(events)

    def set_owners(
        self,
        by_address: dict[OwnerKey, str] | None = None,
        by_ids: dict[OwnerKey, str] | None = None,
    ) -> None:
        self.table.set_owners(by_address, by_ids)

    @property
    def warning_shown(self) -> bool:
        return not self.warning_line.has_class("-hidden")

    def _show_source(self) -> None:
        self.source_line.update(self._source)
        self.warning_line.set_class(self._udev_running, "-hidden")

    # -- actions ------------------------------------------------------------------------
    def action_go_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_toggle_root_hubs(self) -> None:
        shown = self.table.toggle_root_hubs()
        self.notify(f"Root hubs {'shown' if shown else 'hidden'}", timeout=1.5)

    def action_attach(self) -> None:
        device = self.table.selected_device
        if device is None:
            self.notify("No USB device selected", severity="warning")
            return
        self.post_message(self.AttachRequested(device))

    def action_rule(self) -> None:
        device = self.table.selected_device
        if device is None:
            self.notify("No USB device selected", severity="warning")
            return
        self.post_message(self.RuleRequested(device))

    class ForgetRuleRequested(Message):
        """The user asked to delete the auto-attach rule(s) matching ``device``."""

        def __init__(self, device: UsbDevice) -> None:
            super().__init__()
            self.device = device

    def action_forget_rule(self) -> None:
        device = self.table.selected_device
        if device is None:
            self.notify("No USB device selected", severity="warning")
            return
        self.post_message(self.ForgetRuleRequested(device))

    def set_rules_status(self, text: str) -> None:
        """One line per rule and its state (attached, pending, failed …)."""
        self.rules_line.update(text)

    def action_detach(self) -> None:
        device = self.table.selected_device
        if device is None:
            self.notify("No USB device selected", severity="warning")
            return
        self.post_message(self.DetachRequested(device, self.table.owner_of(device)))
