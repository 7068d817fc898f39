"""What the provisioning dialogs share: plain text, number fields, a form row, and a dialog that
runs one :class:`tui.core.jobs.Job` with its progress (bytes, rate, time left) and Esc to
cancel it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, Static

from tui.core.jobs import Job
from tui.model.jobs import JobProgress, ProgressFn
from tui.ui.deck import deck_of
from tui.util import terminal_safe

if TYPE_CHECKING:
    pass


def plain(text: str) -> Text:
    return Text(terminal_safe(text, multiline=True))


def parse_int(text: str, what: str) -> int | None:
    """ "" -> None (the default); a positive integer, else ValueError naming the field."""
    t = text.strip()
    if not t:
        return None
    try:
        n = int(t)
    except ValueError:
        raise ValueError(f"{what}: write a whole number, e.g. 2") from None
    if n <= 0:
        raise ValueError(f"{what}: more than 0")
    return n


def parse_gib(text: str) -> int | None:
    t = text.strip().lower().removesuffix("gib").removesuffix("g").strip()
    if not t:
        return None
    try:
        value = float(t)
    except ValueError:
        raise ValueError("Disk: write a size in GiB, e.g. 20 or 0.5") from None
    if value <= 0:
        raise ValueError("Disk: more than 0 GiB")
    return int(value * (1 << 30))


D = TypeVar("D")  # what a dialog dismisses with
R = TypeVar("R")  # what its job returns


class Running(Protocol):
    """What the dialog reads of its job while it runs (a :class:`tui.core.jobs.Job`)."""

    @property
    def cancelled(self) -> bool: ...

    def progress(self) -> JobProgress: ...

    def cancel(self) -> None: ...


class _JobDialog(ModalScreen[D | None]):
    """A dialog that may run one job: progress from a timer, Esc cancels it. ``D``: what it
    dismisses with (None when cancelled)."""

    job: Running | None = None

    def _progress_widgets(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, id="p-bar")
        yield Static("", id="p-progress")

    def on_mount(self) -> None:
        self.query_one("#p-bar", ProgressBar).display = False
        self.set_interval(0.25, self._tick)

    def _tick(self) -> None:
        job = self.job
        if job is None:
            return
        p = job.progress()
        bar = self.query_one("#p-bar", ProgressBar)
        if p.total > 0:
            bar.display = True
            bar.update(total=100, progress=p.fraction * 100)
        text = p.text() + ("  (cancelling…)" if job.cancelled else "  Esc cancels")
        self.query_one("#p-progress", Static).update(plain(text))

    def run_job(
        self,
        title: str,
        work: Callable[[ProgressFn], R],
        done: Callable[[R], None],
        failed: Callable[[BaseException], bool],
    ) -> None:
        runner = deck_of(self).runner
        if runner is None:
            return
        job: Job[R] = Job(title, work)
        self.job = job

        def finish(result: R) -> None:
            self.job = None
            done(result)

        def fail(exc: BaseException) -> bool:
            self.job = None
            self.query_one("#p-bar", ProgressBar).display = False
            self.query_one("#p-progress", Static).update("")
            return failed(exc)

        runner.submit(title, job.run, done=finish, failed=fail)
        self._tick()

    def action_cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._tick()
            return
        self.dismiss(None)


def _row(label: str, widget: Widget, shown_for: str = "") -> Horizontal:
    """A form row: its label, then the field. ``shown_for``: the class of the sources whose
    rows these are (``cloud``, ``image``, ``iso``), hidden for the others."""
    return Horizontal(Label(label, classes="c-label"), widget, classes=f"c-row {shown_for}".strip())
