"""Textual private API, one place; targets textual==8.2.8.

Everything here reaches into Textual internals that may change in any release. Each function
names what it relies on; re-check them all when the pinned Textual version changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
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


# -- the Esc key: a lone ESC byte answered when its delay ends, not at the next 100 ms tick -----
ESC_DELAY_DEFAULT_MS = 25  # htop's; ESCDELAY in the environment (ms, ncurses' name) wins


def set_escape_delay(environ: Mapping[str, str]) -> float:
    """How long a lone ESC byte waits to be told from an escape sequence, in seconds.

    Textual reads ``ESCDELAY`` (default 100 ms) into ``textual.constants.ESCAPE_DELAY`` at import,
    and ``XTermParser`` looks it up each time it meets an ESC. Without ``ESCDELAY`` set, kvmdeck
    uses 25 ms as htop does: a terminal writes an escape sequence in one go, and over ssh it
    travels in one packet. With ``ESCDELAY`` set, Textual's own reading of it stands.
    """
    import textual.constants as constants

    if "ESCDELAY" not in environ:
        setattr(constants, "ESCAPE_DELAY", ESC_DELAY_DEFAULT_MS / 1000.0)  # noqa: B010 (Final)
    return float(constants.ESCAPE_DELAY)


def prompt_driver_class(base: type[Any]) -> type[Any]:
    """``base`` (Textual's ``LinuxDriver``) with an input thread that wakes when the parser's
    timeout is due: a lone ESC is sent ``ESCAPE_DELAY`` after it came, not up to 100 ms later.

    Textual 8.2.8 ``LinuxDriver.run_input_thread`` waits in ``select(0.1)`` and calls the
    parser's ``tick()`` (which turns a held ESC into the Escape key once ``ESCAPE_DELAY`` has
    passed) only when that select returns: a lone ESC took 100-200 ms whatever ``ESCDELAY``
    said. This copy of that loop differs in one line: the select waits at most until the
    parser's ``_timeout_time`` (``textual._parser.Parser``). It relies on ``self.fileno``,
    ``self.exit_event``, ``self._debug``, ``self.process_message`` and ``XTermParser``.
    Any other base (Windows, headless, web) is returned as it is.
    """
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # pragma: no cover - Windows
        return base
    if not (isinstance(base, type) and issubclass(base, LinuxDriver)):
        return base

    class PromptEscDriver(base):  # type: ignore[misc]
        def run_input_thread(self) -> None:
            import os
            import selectors
            from codecs import getincrementaldecoder

            from textual._parser import ParseError
            from textual._time import get_time
            from textual._xterm_parser import XTermParser

            selector = selectors.SelectSelector()
            selector.register(self.fileno, selectors.EVENT_READ)
            fileno = self.fileno
            parser = XTermParser(self._debug)
            decode = getincrementaldecoder("utf-8")().decode

            def wait_s() -> float:
                due = parser._timeout_time  # on Textual's get_time clock
                return 0.1 if due is None else min(0.1, max(0.0, due - get_time()))

            def process(selected: list[tuple[Any, int]], final: bool = False) -> None:
                for n, (_key, mask) in enumerate(selected):
                    if mask & selectors.EVENT_READ:
                        last = n == len(selected) - 1
                        data = decode(os.read(fileno, 1024 * 4), final=final and last)
                        if not data:
                            break
                        for event in parser.feed(data):
                            self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)

            try:
                while not self.exit_event.is_set():
                    process(selector.select(wait_s()))
                selector.unregister(self.fileno)
                process(selector.select(0.1), final=True)
            finally:
                selector.close()
                with contextlib.suppress(EOFError, ParseError):
                    for _event in parser.feed(""):
                        pass

    PromptEscDriver.__name__ = PromptEscDriver.__qualname__ = f"PromptEsc{base.__name__}"
    return PromptEscDriver


def input_driver() -> type[Any] | None:
    """The terminal driver for :class:`~textual.app.App` (``driver_class``): Textual's own on
    Windows or when ``TEXTUAL_DRIVER`` names one (None: Textual chooses), else
    :func:`prompt_driver_class` of ``LinuxDriver``, with :func:`set_escape_delay` applied."""
    import os

    import textual.constants as constants

    if constants.DRIVER is not None or os.name == "nt":
        return None
    from textual.drivers.linux_driver import LinuxDriver

    set_escape_delay(os.environ)
    return prompt_driver_class(LinuxDriver)
