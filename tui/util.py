"""Small helpers shared by every layer (no textual here)."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path

DASH = "—"

# -- terminal-safe text ------------------------------------------------------------------
# Characters a terminal would act on, or that would make it draw a different width than the
# one measured: control characters (C0, DEL, C1), format characters (bidi controls U+202A-202E,
# U+2066-2069, U+200E/F, U+061C; zero-width U+200B-200D, U+2060, U+FEFF; soft hyphen, tags…),
# line and paragraph separators, and lone surrogates (undecodable bytes).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_COMBINING = frozenset({"Mn", "Me"})
_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_CONTROLS_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # keeps \t and \n
DOTTED_CIRCLE = "\u25cc"  # the base shown under a combining mark that has none


def _placeholder(ch: str) -> str:
    """C0 as its control picture (ESC -> '␛', NUL -> '␀'), DEL as '␡', anything else as
    '<U+202E>'."""
    cp = ord(ch)
    if cp < 0x20:
        return chr(0x2400 + cp)
    if cp == 0x7F:
        return "\u2421"
    return f"<U+{cp:04X}>"


def _make_safe(text: str, multiline: bool) -> str:
    out: list[str] = []
    line_start = True
    for ch in text:
        if multiline and ch in "\n\t":
            out.append(ch)
            line_start = ch == "\n"
            continue
        cat = unicodedata.category(ch)
        if cat in _UNSAFE_CATEGORIES:
            out.append(_placeholder(ch))
        elif cat in _COMBINING and line_start:
            out.append(DOTTED_CIRCLE + ch)
        else:
            out.append(ch)
        line_start = False
    return "".join(out)


_make_safe_cached = functools.lru_cache(maxsize=4096)(_make_safe)  # names, cells: short


def terminal_safe(text: object, *, multiline: bool = False) -> str:
    """``text`` as it may be shown, logged or copied: nothing in it acts on a terminal.

    Every string from a guest, a host, a device, libvirt or a file goes through here before
    a widget, a notification, the event log, the ``--log`` file or a CLI prints it.

    - C0 controls become their control pictures (``ESC`` -> ``␛``, ``NUL`` -> ``␀``, a newline
      -> ``␊``), DEL becomes ``␡``;
    - C1 controls, bidi controls (U+202A-202E, U+2066-2069, U+200E/F, U+061C), zero-width and
      other format characters (U+200B-200D, U+2060, U+FEFF, U+00AD…), U+2028/2029 and lone
      surrogates become ``<U+XXXX>`` (e.g. ``<U+202E>``);
    - a combining mark with no base (at the start of the text or a line) gets a dotted circle
      (``◌``) under it, so it cannot join the cell before it.

    So the width a widget measures (rich's ``cell_len``) is the width the terminal draws.
    ``multiline=True`` keeps newlines and tabs (log records, XML, doctor reports).
    Plain printable text comes back unchanged (the same object), at the cost of one
    ``str.isprintable``.
    """
    s = text if type(text) is str else str(text)
    if s.isprintable() and (s.isascii() or not s or unicodedata.category(s[0]) not in _COMBINING):
        return s
    if s.isascii():  # only C0 and DEL to replace: one regex pass (log records, tracebacks)
        pattern = _ASCII_CONTROLS_MULTILINE if multiline else _ASCII_CONTROLS
        return pattern.sub(lambda m: _placeholder(m.group()), s)
    return (_make_safe_cached if len(s) <= 256 else _make_safe)(s, multiline)


# -- commands to paste -------------------------------------------------------------------
def shell_quote(word: str) -> str:
    """One word of a command line an operator may paste: :func:`shlex.quote` (so ``$(…)``,
    backquotes, ``;`` and spaces are inert), or, for a word holding characters a terminal would
    act on (ESC, bidi overrides…), bash's ``$'…'`` with each such character as ``\\xHH`` /
    ``\\uHHHH``: the command still names the same guest, and nothing raw reaches a terminal.
    (``$'…'`` is bash, zsh and ksh; POSIX sh has it from issue 8.)"""
    if terminal_safe(word) == word:
        return shlex.quote(word)
    out = []
    for ch in word:
        cp = ord(ch)
        if ch in "\\'":
            out.append("\\" + ch)
        elif terminal_safe(ch) == ch:
            out.append(ch)
        elif cp < 0x80:  # \\x80 and up would be a byte, not the character
            out.append(f"\\x{cp:02x}")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    return "$'" + "".join(out) + "'"


def shell_command(*argv: str, name: str | None = None) -> str:
    """A command line safe to paste: every word quoted (:func:`shell_quote`); ``name`` (a
    guest's, a device's) goes last, after ``--`` when it starts with ``-`` so that the program
    cannot take it for an option (virsh, virt-xml, virt-viewer and argparse programs all end
    their options at ``--``). An option's value that may start with ``-``: :func:`option_words`.

    Every command kvmdeck suggests (doctors, dialogs, messages) is built here."""
    words = list(argv)
    if name is not None:
        words += ["--", name] if name.startswith("-") else [name]
    return " ".join(shell_quote(w) for w in words)


def option_words(option: str, value: str) -> list[str]:
    """``--guest NAME``, or ``--guest=-c`` when the value starts with ``-`` (argparse would
    take ``-c`` for an option of its own)."""
    return [f"{option}={value}"] if value.startswith("-") else [option, value]


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one.

    The data goes to a temp file in the same directory, is fsynced, then renamed over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fmt_bytes(value: float | None, suffix: str = "") -> str:
    """Human-readable binary size: 1536 -> '1.5K'. None -> '—'."""
    if value is None:
        return DASH
    units = ["B", "K", "M", "G", "T", "P"]
    v = float(value)
    for unit in units:
        if abs(v) < 1024 or unit == units[-1]:
            if unit == "B":
                return f"{int(v)}{unit}{suffix}"
            return f"{v:.1f}{unit}{suffix}"
        v /= 1024
    return f"{v:.1f}P{suffix}"  # pragma: no cover


def fmt_rate(value: float | None) -> str:
    """Bytes per second, human readable; None -> '—'."""
    return fmt_bytes(value, "/s")


def fmt_pct(value: float | None) -> str:
    return DASH if value is None else f"{value:5.1f}%"


def fmt_duration(seconds: float | None) -> str:
    """Seconds -> '3d 04:05' / '04:05:06'; None -> '—'."""
    if seconds is None:
        return DASH
    s = int(max(0, seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    return f"{hours:02d}:{minutes:02d}:{s:02d}"


def display_available(env: Mapping[str, str]) -> bool:
    """A graphical display here ($DISPLAY or $WAYLAND_DISPLAY): a viewer can start. The one test
    for it (the launcher, the display doctor in the TUI and in ``kvmdeck doctor --guest``)."""
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
