"""``w`` on the USB screen: the USB doctor for the selected device, each finding with its fix;
without a device (nothing selected, no USB bus, the rules list focused) the host's report: USB
bus, udev, permissions, AppArmor/SELinux, the guests' USB controllers.

The screen opens at once ("checking …") and shows the findings when they come:
:meth:`tui.ui.usb_feature.UsbFeature.diagnose` runs the host probes in a worker thread and
:func:`tui.core.usb.doctor.usb_findings` makes the findings. Every string (device names,
guest names, kernel log lines) is shown as plain text, never markup.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.core.display import verdict
from tui.core.usb.doctor import Finding, Level
from tui.model.usb import UsbDevice
from tui.ui import actions
from tui.ui.widgets.display_doctor import MARK, STYLE  # one look for both doctors
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

HEAD = {
    Level.OK: "nothing in the way of an attach",
    Level.INFO: "nothing in the way of an attach (some checks could not run)",
    Level.WARN: "an attach may fail: see the fixes",
    Level.FAIL: "an attach will fail: see the fixes",
}
HOST_HEAD = {
    Level.OK: "nothing in the way of USB passthrough",
    Level.INFO: "nothing in the way of USB passthrough (some checks could not run)",
    Level.WARN: "USB passthrough may fail: see the fixes",
    Level.FAIL: "no USB passthrough from this host: see the fixes",
}
CLOSE_HINT = "Esc q close · ↑ ↓ scroll"
CHECKING = "Checking the device node, the QEMU user, the kernel log, the guests …"
CHECKING_HOST = "Checking the USB bus, udev, the QEMU user, the kernel log, the guests …"
HOST_TEXT = "This host's USB (no device selected: select one for its own checks)"


def worst(findings: list[Finding]) -> Level:
    """The display doctor's verdict (FAIL, WARN, else OK), or INFO when nothing is wrong but
    a check could not run (the heading says so)."""
    level = verdict(findings)
    if level is Level.OK and any(f.status is Level.INFO for f in findings):
        return Level.INFO
    return level


def device_text(dev: UsbDevice) -> Text:
    text = Text()
    text.append(terminal_safe(dev.label), style="bold")  # the device's own strings
    text.append(
        terminal_safe(f"  {dev.ids}  bus {dev.busnum} device {dev.devnum}  port {dev.port}")
    )
    return text


def finding_text(f: Finding) -> Text:
    """A finding's name, detail and (when not ok) its fix: plain text, styled."""
    text = Text()
    text.append(f"{terminal_safe(f.name)}: ", style="bold")
    text.append(terminal_safe(f.detail, multiline=True))
    if f.fix and f.status is not Level.OK:
        text.append("\nfix: ", style="dim bold")
        text.append(terminal_safe(f.fix, multiline=True), style="dim")
    return text


def findings_text(findings: list[Finding], host: bool = False) -> Text:
    """The findings as plain lines (tests, logs): what :func:`findings_table` shows."""
    lines = [f"Verdict: {(HOST_HEAD if host else HEAD)[worst(findings)]}"]
    lines += [f"{MARK[f.status]} {finding_text(f).plain}" for f in findings]
    return Text("\n".join(lines))


def findings_table(findings: list[Finding], host: bool = False) -> Table:
    """A verdict, then one row per finding: its status, then the text with a hanging indent."""
    table = Table.grid(padding=(0, 1), expand=True)
    level = worst(findings)
    head = (HOST_HEAD if host else HEAD)[level]
    table.title = Text.assemble(("Verdict: ", "bold"), (head, STYLE[level]))
    table.title_justify = "left"
    table.add_column(width=4, no_wrap=True)
    table.add_column(ratio=1)
    for f in findings:
        table.add_row(Text(MARK[f.status], style=STYLE[f.status]), finding_text(f))
    return table


class UsbDoctorScreen(ModalScreen[None]):
    """The findings for one device, or the host's (``device`` None); ``findings`` is None
    while the probes run."""

    BINDINGS = actions.bindings("doctor")
    DEFAULT_CSS = """
    UsbDoctorScreen { align: center middle; }
    UsbDoctorScreen > VerticalScroll {
        width: 100%; max-width: 140; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
        border-title-color: $text; border-subtitle-color: $text-muted;
        scrollbar-size-vertical: 1;
    }
    UsbDoctorScreen #usb-doctor-device { padding: 0 0 1 0; }
    """

    def __init__(self, device: UsbDevice | None) -> None:
        super().__init__()
        self.device = device
        self.findings: list[Finding] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="usb-doctor-scroll") as box:
            dev = self.device
            box.border_title = (
                "USB doctor: why an attach may fail" if dev else "USB doctor: this host's USB"
            )
            box.border_subtitle = CLOSE_HINT
            head = device_text(dev) if dev is not None else Text(HOST_TEXT, style="bold")
            yield Static(head, id="usb-doctor-device")
            checking = CHECKING if dev is not None else CHECKING_HOST
            yield Static(Text(checking, style="dim"), id="usb-doctor-findings")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#usb-doctor-scroll", VerticalScroll).focus()
        self._mounted = True
        self._paint()

    _mounted = False

    def show(self, findings: list[Finding]) -> None:
        """The findings arrived (on the loop); before mount they wait for it."""
        self.findings = list(findings)
        if self._mounted:
            self._paint()

    def _paint(self) -> None:
        if self.findings is not None:
            table = findings_table(self.findings, host=self.device is None)
            self.query_one("#usb-doctor-findings", Static).update(table)
