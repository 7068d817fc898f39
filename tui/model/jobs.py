"""A long operation's progress (copies, uploads, clones): bytes done of total, rate, time left.

The adapters report ``(done, total)`` through a callback; :class:`tui.core.jobs.Job` turns it into
:class:`JobProgress` values the UI shows. Cancelling raises
:class:`tui.model.provision.JobCancelled` inside the operation, which removes what it made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (stage text, bytes done, bytes total); raises JobCancelled when the job was cancelled
ProgressFn = Callable[[str, int, int], None]


def no_progress(_stage: str, _done: int, _total: int) -> None:
    """A progress callback for callers that show none and never cancel."""


def human_bytes(n: float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def human_seconds(s: float) -> str:
    s = round(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@dataclass(frozen=True)
class Transfer:
    """Bytes ``done`` of ``total`` after ``elapsed`` seconds: the fraction, the rate so far and
    the time left at it. A storage upload's :class:`tui.model.storage.Progress` and a job's
    :class:`JobProgress` are both one."""

    done: int
    total: int
    elapsed: float  # seconds (a job's: since its stage began)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    @property
    def rate(self) -> float:
        """Bytes a second so far (0 until time has passed)."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def left_s(self) -> float | None:
        """Seconds left at the rate so far (None until there is a rate and a total)."""
        if self.rate <= 0 or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


@dataclass(frozen=True)
class JobProgress(Transfer):
    title: str = ""
    stage: str = ""
    finished: bool = False

    def text(self) -> str:
        """``copying base.qcow2: 12.0 MiB of 300.0 MiB (4%), 6.0 MiB/s, 48 s left``"""
        if self.total <= 0:
            return f"{self.stage}…"
        left = self.left_s
        parts = [
            f"{self.stage}: {human_bytes(self.done)} of {human_bytes(self.total)}"
            f" ({self.fraction * 100:.0f}%)"
        ]
        if self.rate > 0:
            parts.append(f"{human_bytes(self.rate)}/s")
        if left is not None and not self.finished:
            parts.append(f"{human_seconds(left)} left")
        return ", ".join(parts)
