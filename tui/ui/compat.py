"""Textual private API, one place; targets textual==8.2.8.

Everything here reaches into Textual internals that may change in any release. Each function
names what it relies on; re-check them all when the pinned Textual version changes.
"""

from __future__ import annotations

import contextlib
from typing import IO, TYPE_CHECKING, Any, cast

from textual.widgets._footer import (
    FooterKey as FooterKey,  # Footer's key widget: Textual does not export it
)

if TYPE_CHECKING:
    from textual.app import App


class GuardedOutput:
    """A file for Textual's writer thread that never raises: after the terminal is gone (SIGHUP:
    writes fail with EIO, or EPIPE) it drops output instead of killing the thread."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # EIO/EPIPE after a hangup; ValueError: closed
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.broken = True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        try:
            return self._file.isatty()
        except (OSError, ValueError):
            return False


def guard_driver_output(app: App[Any]) -> bool:
    """Make the terminal driver's writes survive a hangup. True if the guard is (now) in place.

    Textual 8.2.8: ``LinuxDriver`` writes through ``driver._writer_thread``, a ``WriterThread``
    (``textual.drivers._writer_thread``) around ``driver._file`` (``sys.__stderr__``) with a
    bounded queue (30 items). After SIGHUP a write raises EIO, the thread dies, its queue fills,
    and the next ``driver.write`` on the event loop blocks for ever: the exit never completes.
    Here the running writer is stopped (it drains what is queued, in order) and replaced by one
    writing to a :class:`GuardedOutput`. Call it on the event loop once the app is in
    application mode (``App.on_mount`` or later); a headless driver is left alone.
    """
    try:
        from textual.drivers._writer_thread import WriterThread
    except ImportError:  # another Textual: nothing to guard this way
        return False
    driver = getattr(app, "_driver", None)
    old = getattr(driver, "_writer_thread", None)
    file = getattr(driver, "_file", None)
    if isinstance(file, GuardedOutput):
        return True
    if not isinstance(old, WriterThread) or file is None:
        return False
    if old.is_alive():
        old.stop()  # queue None and join: everything written so far reaches the terminal first
    guarded = GuardedOutput(file)
    new = WriterThread(cast(IO[str], guarded))
    new.start()
    driver._file = guarded  # type: ignore[union-attr]
    driver._writer_thread = new  # type: ignore[union-attr]
    return True


def saved_terminal_attrs(app: App[Any]) -> tuple[int, list[Any]] | None:
    """(fd, termios attributes) the driver saved before raw mode, to restore them by hand.

    Textual 8.2.8: ``LinuxDriver.fileno`` (stdin's fd) and ``LinuxDriver.attrs_before``.
    """
    driver = getattr(app, "_driver", None)
    attrs = getattr(driver, "attrs_before", None)
    fd = getattr(driver, "fileno", None)
    if attrs is None or not isinstance(fd, int):
        return None
    with contextlib.suppress(TypeError):
        return fd, list(attrs)
    return None


def copy_footer_key(have: FooterKey, want: FooterKey) -> None:
    """Make the mounted footer key ``have`` show what ``want`` (composed, never mounted) says,
    in place (tui/ui/widgets/footer.py). Relies on FooterKey's attributes ``key``,
    ``key_display``, ``description``, ``action`` and ``_disabled`` (read by its ``render`` and
    ``on_mouse_down``) and its ``-disabled`` class."""
    state = ("key", "key_display", "description", "action", "_disabled", "tooltip")
    if all(getattr(have, a) == getattr(want, a) for a in state):
        return
    for attr in state:
        setattr(have, attr, getattr(want, attr))
    have.set_class(want._disabled, "-disabled")
    have.refresh(layout=True)
