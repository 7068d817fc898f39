"""``d``: the virtualization doctor's report, every check with its status, detail and fix.

The screen only shows a :class:`tui.model.vt.VtReport`; the app builds it in a thread
worker (``tui.core.doctor.build_report``) and passes it in, or updates it with :meth:`show`.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.model.vt import Status, VtReport
from tui.ui import actions

STYLE = {
    Status.OK: "bold green",
    Status.WARN: "bold yellow",
    Status.FAIL: "bold red",
    Status.UNKNOWN: "bold magenta",
}


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def verdict_text(report: VtReport) -> Text:
    text = Text()
    text.append(report.badge, style="bold green" if report.usable else "bold red")
    text.append(f"\nVerdict: {report.verdict} ({report.basis_text})")
    text.append(
        f"\nHost is a guest: {_yes(report.host_is_guest)}    "
        f"Nested supported: {_yes(report.nested_supported)}"
    )
    return text


def checks_table(report: VtReport) -> Table:
    table = Table(expand=True, show_edge=False, title="Checks")
    table.add_column("Status", no_wrap=True, width=7)
    table.add_column("Check", style="bold", no_wrap=True)
    table.add_column("Detail", ratio=3)
    table.add_column("Fix", ratio=2, style="dim")
    for c in report.checks:
        table.add_row(
            Text(str(c.status), style=STYLE[c.status]),
            c.title,
            c.detail,
            "" if c.status is Status.OK else c.fix,
        )
    return table


def notes_text(report: VtReport) -> str:
    return "\n".join(f"• {n}" for n in report.notes) or "No notes."


class DoctorScreen(ModalScreen[None]):
    BINDINGS = actions.bindings("doctor")
    DEFAULT_CSS = """
    DoctorScreen { align: center middle; }
    DoctorScreen > VerticalScroll {
        width: 95%; max-height: 95%; border: thick $accent; background: $surface; padding: 0 1;
    }
    DoctorScreen #doctor-verdict { padding: 0 0 1 0; }
    DoctorScreen #doctor-notes { padding: 1 0 0 0; color: $text-muted; }
    """

    def __init__(self, report: VtReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(verdict_text(self.report), id="doctor-verdict")
            yield Static(checks_table(self.report), id="doctor-checks")
            yield Static(notes_text(self.report), id="doctor-notes")

    def show(self, report: VtReport) -> None:
        """Replace the report (after a refresh) without closing the screen."""
        self.report = report
        self.query_one("#doctor-verdict", Static).update(verdict_text(report))
        self.query_one("#doctor-checks", Static).update(checks_table(report))
        self.query_one("#doctor-notes", Static).update(notes_text(report))
