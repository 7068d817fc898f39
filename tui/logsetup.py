"""``--log FILE``: a debug log with secrets redacted and terminal-safe (no textual here).

A file that cannot be opened is a :class:`LogFileError` (the CLI says why and exits 2). A write
that fails later (a full disk) never reaches the terminal (``logging``'s own handler would print
``--- Logging error ---`` over the TUI): the first failure is reported once to whoever listens
(:func:`on_write_failure`: the app shows a notice), the rest is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tui.util import terminal_safe

_PATTERNS = [
    re.compile(r"(passwd\s*=\s*['\"])[^'\"]*(['\"])", re.I),
    re.compile(r"(password\s*[=:]\s*['\"]?)[^\s'\",}&]+", re.I),
    re.compile(r"(\"password\"\s*:\s*\")[^\"]*(\")", re.I),
]
REDACTED = "***"


def redact(text: str) -> str:
    for pat in _PATTERNS:
        text = pat.sub(
            lambda m: (
                m.group(1) + REDACTED + (m.group(2) if m.lastindex and m.lastindex > 1 else "")
            ),
            text,
        )
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        record.msg = redact(msg)
        record.args = None
        return True


class SafeFormatter(logging.Formatter):
    """Log records terminal-safe: a guest's name or a device string holding ESC must not act
    on the terminal of whoever reads the log (``tail -f``, ``less -R``). Newlines and tabs stay
    (tracebacks)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record), multiline=True)


class LogFileError(Exception):
    """``--log PATH`` cannot be opened; the message names the path and the fix."""


_OPEN_FIX = {
    errno.ENOENT: "its directory does not exist: create it or choose another path",
    errno.EISDIR: "it is a directory: give a file name",
    errno.EACCES: "no permission to write there: choose a path you can write",
    errno.EPERM: "no permission to write there: choose a path you can write",
    errno.EROFS: "the file system is read-only: choose another path",
    errno.ENOSPC: "the disk is full: free some space or choose another path",
}

_listeners: list[Callable[[str], None]] = []
_pending: list[str] = []
_lock = threading.Lock()


def on_write_failure(listener: Callable[[str], None]) -> Callable[[], None]:
    """``listener(text)`` is called once, from whichever thread logged, when the log file
    stops taking lines (already failed: called now). Returns what removes it."""
    with _lock:
        _listeners.append(listener)
        pending = list(_pending)
    for text in pending:
        listener(text)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


class QuietFileHandler(logging.FileHandler):
    """A FileHandler whose write errors never print to the terminal: the first one is
    reported to the :func:`on_write_failure` listeners, once."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed(sys.exc_info()[1])

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:  # at exit too: logging.shutdown flushes every handler
            self._failed(exc)

    def close(self) -> None:
        try:
            super().close()
        except OSError as exc:  # the buffered lines the full disk refused
            self._failed(exc)

    def _failed(self, exc: BaseException | None) -> None:
        if self.failed:
            return
        self.failed = True
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        fix = (
            "free some space"
            if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
            else "check the file"
        )
        text = f"--log {self.baseFilename}: cannot write ({why}); log lines are lost. {fix}."
        with _lock:
            _pending.append(text)
            listeners = list(_listeners)
        for listener in listeners:
            with contextlib.suppress(Exception):  # a listener must not make logging fail
                listener(text)


def setup_logging(path: Path | None, level: int = logging.DEBUG) -> None:
    """Log to ``path`` (None: nowhere). Raises :class:`LogFileError` when it cannot be
    opened (a missing directory, a directory, no permission)."""
    root = logging.getLogger("tui")
    root.setLevel(level if path else logging.WARNING)
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    with _lock:
        _pending.clear()
    if path is None:
        root.addHandler(logging.NullHandler())
        return
    try:
        handler = QuietFileHandler(path, encoding="utf-8")
    except OSError as exc:
        root.addHandler(logging.NullHandler())
        fix = _OPEN_FIX.get(exc.errno or 0, "choose another path")
        raise LogFileError(f"--log {path}: cannot open it ({exc.strerror or exc}); {fix}.") from exc
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.propagate = False
