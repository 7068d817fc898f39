"""``--log FILE``: a debug log with secrets redacted (no textual here)."""

from __future__ import annotations

import logging
import re
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


def setup_logging(path: Path | None, level: int = logging.DEBUG) -> None:
    root = logging.getLogger("tui")
    root.setLevel(level if path else logging.WARNING)
    for h in list(root.handlers):
        root.removeHandler(h)
    if path is None:
        root.addHandler(logging.NullHandler())
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.propagate = False
