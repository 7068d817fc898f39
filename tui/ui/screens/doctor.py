"""``d``: the virtualization doctor's report, every check with its status, detail and fix.

The screen only shows a :class:`tui.model.vt.VtReport`; the app builds it in a thread
worker (``tui.cli.doctor.build_report``) and passes it in, or updates it with :meth:`show`.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.model.vt import Check, Status, VtReport
from tui.ui import actions
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

STYLE = {
    Status.OK: "bold green",
    Status.WARN: "bold yellow",
    Status.FAIL: "bold red",
    Status.UNKNOWN: "bold magenta",
}


CLOSE_HINT = "Esc q close · ↑ ↓ PgUp PgDn scroll"


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def verdict_text(report: VtReport) -> Text:
    text = Text()
    text.append(terminal_safe(report.badge), style="bold green" if report.usable else "bold red")
    text.append(terminal_safe(f"\nVerdict: {report.verdict} ({report.basis_text})", multiline=True))
    text.append(f"\nHost is a guest: {_yes(report.host_is_guest)}")
    text.append(f"    Nested supported: {_yes(report.nested_supported)}")
    return text


def _what(check: Check, title: bool) -> Text:
    """Detail and fix of a check (with its title first, when stacked): plain text."""
    text = Text()
    if title:
        text.append(terminal_safe(check.title), style="bold")
        text.append("\n")
    text.append(terminal_safe(check.detail, multiline=True))  # from /proc, /sys, the kernel log
    if check.status is not Status.OK and check.fix:
        text.append("\nfix: ", style="dim bold")
        text.append(terminal_safe(check.fix, multiline=True), style="dim")
    return text


def _status(check: Check) -> Text:
    return Text(str(check.status), style=STYLE[check.status])


class ChecksView:
    """The checks as the CLI prints them, laid out for the width they get (a Rich renderable).

    Wide: status, title, then the detail with the fix under it. Narrow (below :attr:`WIDE`
    columns): status, then the title, the detail and the fix stacked in one column, so nothing
    is squeezed into a few characters. Every string is plain text: details quote host files.
    """

    WIDE = 110

    def __init__(self, report: VtReport) -> None:
        self.report = report

    def table(self, width: int) -> Table:
        checks = self.report.checks
        wide = width >= self.WIDE
        table = Table.grid(padding=(0, 1), expand=True)
        table.title = Text("Checks", style="bold")
        table.title_justify = "left"
        table.add_column("Status", no_wrap=True, width=7)
        if wide:
            title_width = max([5, *(len(c.title) for c in checks)])
            table.add_column("Check", no_wrap=True, width=min(title_width, 36), style="bold")
        table.add_column("Detail", ratio=1)
        for c in checks:
            if wide:
                table.add_row(
                    _status(c), Text(terminal_safe(c.title), overflow="ellipsis"), _what(c, False)
                )
            else:
                table.add_row(_status(c), _what(c, True))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(options.max_width)


def checks_table(report: VtReport) -> ChecksView:
    return ChecksView(report)


def notes_text(report: VtReport) -> Text | Table:
    if not report.notes:
        return Text("No notes.")
    table = Table.grid(padding=(0, 1), expand=True)
    table.title = Text("Notes", style="bold")
    table.title_justify = "left"
    table.add_column(width=1)
    table.add_column(ratio=1)
    for n in report.notes:
        table.add_row(
            "•", Text(terminal_safe(n, multiline=True))
        )  # bullets with a hanging indent; notes are plain text
    return table


class DoctorScreen(ModalScreen[None]):
    BINDINGS = actions.bindings("doctor")
    DEFAULT_CSS = """
    DoctorScreen { align: center middle; }
    DoctorScreen > VerticalScroll {
        width: 100%; max-width: 160; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
        border-title-color: $text; border-subtitle-color: $text-muted;
        scrollbar-size-vertical: 1;
    }
    DoctorScreen #doctor-verdict { padding: 0 0 1 0; }
    DoctorScreen #doctor-notes { padding: 1 0 0 0; color: $text-muted; }
    """

    def __init__(self, report: VtReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="doctor-scroll") as box:
            box.border_title = "Virtualization doctor"
            box.border_subtitle = CLOSE_HINT
            yield Static(verdict_text(self.report), id="doctor-verdict")
            yield Static(checks_table(self.report), id="doctor-checks")
            yield Static(notes_text(self.report), id="doctor-notes")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#doctor-scroll", VerticalScroll).focus()

    def show(self, report: VtReport) -> None:
        """Replace the report (after a refresh) without closing the screen."""
        self.report = report
        self.query_one("#doctor-verdict", Static).update(verdict_text(report))
        self.query_one("#doctor-checks", Static).update(checks_table(report))
        self.query_one("#doctor-notes", Static).update(notes_text(report))
