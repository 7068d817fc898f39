"""terminal_safe(): nothing from a guest, host, device or file acts on the terminal."""

from __future__ import annotations

import unicodedata

import pytest
from rich.cells import cell_len

from tui.util import terminal_safe

HOSTILE = {
    "\x1b]0;PWNED-TITLE\x1b\\": "␛]0;PWNED-TITLE␛\\",
    "\x1b]52;c;cHduZWQ=\x1b\\": "␛]52;c;cHduZWQ=␛\\",
    "\x1b[c": "␛[c",
    "a\x00b\x07c\x08d\x7f": "a␀b␇c␈d␡",
    "csi\x9b31m": "csi<U+009B>31m",
    "osc\x9d0;x\x9c": "osc<U+009D>0;x<U+009C>",
    "evil\u202egnp.exe": "evil<U+202E>gnp.exe",
    "\u2066iso\u2069\u200e\u200f\u061c": "<U+2066>iso<U+2069><U+200E><U+200F><U+061C>",
    "zero\u200bwidth\u200c\u200d\ufeff\u2060": "zero<U+200B>width<U+200C><U+200D><U+FEFF><U+2060>",
    "line\nnext\r\ttab": "line␊next␍␉tab",
    "sep\u2028\u2029": "sep<U+2028><U+2029>",
    "\u0301\u0301x": "◌\u0301\u0301x",
    "bad\udcffbyte": "bad<U+DCFF>byte",
}


@pytest.mark.parametrize("raw, shown", list(HOSTILE.items()))
def test_hostile_text_becomes_visible_placeholders(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


@pytest.mark.parametrize("raw", list(HOSTILE))
def test_nothing_unsafe_is_left_and_width_is_what_rich_measures(raw: str) -> None:
    safe = terminal_safe(raw)
    assert "\x1b" not in safe
    for ch in safe:
        assert unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Zl", "Zp"}, repr(ch)
    # every character left takes at least one cell, except marks that sit on a base
    assert cell_len(safe) >= sum(1 for ch in safe if unicodedata.category(ch) not in {"Mn", "Me"})
    assert unicodedata.category(safe[0]) not in {"Mn", "Me"}


def test_plain_text_is_returned_unchanged() -> None:
    for plain in ("web-01", "db[old]", "Ünïcödé ✓ 日本", "a\u0301", "", "$(touch pwned)"):
        assert terminal_safe(plain) is plain or terminal_safe(plain) == plain
    assert terminal_safe("a\u00a0b") == "a\u00a0b"  # a no-break space is a printable space


def test_multiline_keeps_newlines_and_tabs_only() -> None:
    raw = "Traceback:\n\tline \x1b[2J\n\u0301mark\r"
    assert terminal_safe(raw, multiline=True) == "Traceback:\n\tline ␛[2J\n◌\u0301mark␍"


def test_non_strings_are_converted() -> None:
    assert terminal_safe(42) == "42"
    assert terminal_safe(ValueError("bad\x1b[c")) == "bad␛[c"


def test_long_text_is_handled_too() -> None:
    raw = "x" * 5000 + "\x1b"
    assert terminal_safe(raw) == "x" * 5000 + "␛"
