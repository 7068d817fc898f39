"""``w`` on the USB screen: the USB doctor for the selected device, each finding with its fix;
without a device (nothing selected, no USB bus, the rules list focused) the host's report: USB
bus, udev, permissions, AppArmor/SELinux, the guests' USB controllers.

The screen opens at once ("checking …") and shows the findings when they come:
:meth:`tui.ui.usb_feature.UsbFeature.diagnose` runs the host probes in a worker thread and
:func:`tui.core.usb.doctor.usb_findings` makes the findings. Every string (device names,
guest names, kernel log lines) is shown as plain text, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

from tui.core.display import verdict
from tui.core.usb.doctor import Finding, Level
from tui.model.usb import UsbDevice
from tui.ui import actions
from tui.ui.widgets.command_row import CommandRow, command_text, fix_rows
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
    """A finding's name, detail and (when not ok) its fix: plain text, styled (one text:
    the screen shows a fix's commands on rows of their own, :func:`finding_widgets`)."""
    text = Text()
    text.append(f"{terminal_safe(f.name)}: ", style="bold")
    text.append(terminal_safe(f.detail, multiline=True))
    if f.fix and f.status is not Level.OK:
        for row in fix_rows(f.fix):
            text.append("\n")
            text.append_text(row if isinstance(row, Text) else command_text(*row))
    return text


def findings_text(findings: list[Finding], host: bool = False) -> Text:
    """The findings as plain lines (tests, logs): what :func:`finding_widgets` shows."""
    lines = [f"Verdict: {(HOST_HEAD if host else HEAD)[worst(findings)]}"]
    lines += [f"{MARK[f.status]} {finding_text(f).plain}" for f in findings]
    return Text("\n".join(lines))


def verdict_text(findings: list[Finding], host: bool = False) -> Text:
    level = worst(findings)
    return Text.assemble(
        ("Verdict: ", "bold"), ((HOST_HEAD if host else HEAD)[level], STYLE[level])
    )


def finding_widgets(f: Finding) -> Horizontal:
    """One finding: its status, then its name and detail (they wrap, with a hanging indent)
    and its fix, each command whole on a row of its own that scrolls sideways (never wrapped
    in the middle: it is there to be copied)."""
    body = Text()
    body.append(f"{terminal_safe(f.name)}: ", style="bold")
    body.append(terminal_safe(f.detail, multiline=True))
    parts: list[Widget] = [Static(body, classes="finding-text")]
    if f.fix and f.status is not Level.OK:
        for row in fix_rows(f.fix):
            parts.append(
                Static(row, classes="finding-text") if isinstance(row, Text) else CommandRow(*row)
            )
    mark = Static(Text(MARK[f.status], style=STYLE[f.status]), classes="finding-mark")
    return Horizontal(mark, Vertical(*parts, classes="finding-body"), classes="finding")


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
    UsbDoctorScreen #usb-doctor-findings { height: auto; }
    UsbDoctorScreen .finding { height: auto; }
    UsbDoctorScreen .finding-mark { width: 5; }
    UsbDoctorScreen .finding-body { width: 1fr; height: auto; }
    UsbDoctorScreen .finding-body > CommandRow > .command { padding: 0; }
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
            with Vertical(id="usb-doctor-findings"):  # the verdict, then one row a finding
                yield Static(Text(checking, style="dim"))
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
            host = self.device is None
            box = self.query_one("#usb-doctor-findings", Vertical)
            box.remove_children()
            box.mount_all(
                [
                    Static(verdict_text(self.findings, host), classes="verdict"),
                    *(finding_widgets(f) for f in self.findings),
                ]
            )
