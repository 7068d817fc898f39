"""One command meant to be copied, on one row that is never wrapped: it scrolls sideways.

A wrapped command breaks in the middle (``--connect`` / ``qemu+ssh://…``), and what the
operator copies from the terminal is then two broken lines. :class:`CommandRow` shows the whole
text on one row; when it is wider than the row, a one-line scrollbar shows under it, Tab reaches
it and ← → (or the mouse) scroll it. The console dialog's commands and the doctors' fix lines
use it. The text is shown as plain text, never markup (it holds guest names).
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import HorizontalScroll
from textual.widgets import Static

from tui.util import terminal_safe

# Where a command starts in a doctor's fix line: a program an operator types (``shell_command``
# in tui.util quotes what follows), at the start of the line or after a space or "(".
_COMMAND = re.compile(
    r"(?:^|(?<=[\s(]))(?:(?:virt-xml|virsh|dmesg|setsebool|ausearch|udevadm|kvmdeck doctor) "
    r"|SUBSYSTEM==)"
)


def fix_rows(fix: str) -> list[Text | tuple[str, str]]:
    """A doctor's fix, row by row: prose as ``Text`` (``"fix: …"``; it may wrap) and each command
    as ``(command, prefix)`` for a :class:`CommandRow` (never wrapped). A command inside a line
    starts its own row, under the prose that leads to it."""
    rows: list[Text | tuple[str, str]] = []
    for i, line in enumerate(fix.splitlines()):
        prefix = "fix: " if i == 0 else "     "
        lead, command = split_command(line)
        if lead:
            text = Text(prefix, style="dim")
            text.append(terminal_safe(lead))
            rows.append(text)
            prefix = "     "
        if command:
            rows.append((command, prefix))
    return rows


def split_command(line: str) -> tuple[str, str]:
    """``(lead, command)``: the prose before the first command in ``line`` and the rest from
    the command's first word (``("", line)`` when it starts with one, ``(line, "")`` when it
    holds none). ``"S … (make SPICE-ready), or virt-xml --add-device …"`` gives the lead up to
    "or" and ``"virt-xml --add-device …"``, so the command starts its own row."""
    m = _COMMAND.search(line)
    if m is None:
        return line, ""
    return line[: m.start()].rstrip(), line[m.start() :]


def command_text(command: str, prefix: str = "", style: str = "") -> Text:
    """``prefix`` (dim, e.g. ``"fix: "``) then the command, on one line that never wraps."""
    text = Text(no_wrap=True, overflow="ignore", end="")
    if prefix:
        text.append(prefix, style="dim")
    text.append(terminal_safe(command), style=style)  # one line: control characters shown
    return text


class CommandRow(HorizontalScroll):
    """A command on one row that scrolls sideways (``.command-row``; the text is ``.command``)."""

    DEFAULT_CSS = """
    CommandRow {
        height: auto; background: $boost; scrollbar-size-horizontal: 1;
    }
    CommandRow > .command { width: auto; padding: 0 1; }
    """

    def __init__(
        self, command: str, prefix: str = "", style: str = "", *, classes: str = ""
    ) -> None:
        super().__init__(classes=f"command-row {classes}".strip())
        self.command = command
        self._text = command_text(command, prefix, style)

    @property
    def text(self) -> Text:
        return self._text

    def compose(self) -> ComposeResult:
        yield Static(self._text, classes="command", markup=False)
