"""The ``rules.toml`` file as text: edits that keep the user's comments, order and layout, the
save lock, and the file's signature (to notice a change made by hand or by another kvmdeck).

No textual and no libvirt here, and no import of :mod:`tui.core.usb.rules` at run time (that
module calls this one). Saving a change never rewrites the user's document: the lines of the one
rule that changed are added, edited (with tomlkit, so the comments inside it stay) or removed,
and every other byte stays as it was. :func:`edit_text` works on the ``[[rule]]`` tables' lines;
a file written another way (``rule = [{…}]``) is edited through tomlkit's document instead.
Either result is parsed again and compared with what was asked before anything is written
(:func:`tui.core.usb.rules.edit_rules`).

Which lines belong to a rule: its ``[[rule]]`` header, the comment lines right above it (no
blank line between), and everything down to the next rule's lines (or the end of the file).
A new rule goes right above the rule it must come before (its comments included), or at the
end; a rule whose guest or ``persistent`` changed is edited in place; kvmdeck never reorders
the user's rules.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.config import read_user_file

if TYPE_CHECKING:
    from tui.core.usb.rules import Rule

SAVE_LOCK_NAME = ".rules.save.lock"
SAVE_LOCK_WAIT_S = 10.0

HEADER_RE = re.compile(r"""^[ \t]*\[\[[ \t]*(?:rule|"rule"|'rule')[ \t]*\]\][ \t]*(?:#.*)?$""")
COMMENT_RE = re.compile(r"^[ \t]*#")

# (st_dev, st_ino, st_size, st_mtime_ns); None: there is no file.
Signature = tuple[int, int, int, int] | None


def signature_of(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def signature(path: Path) -> Signature:
    """A cheap stat of ``path``: changes when the file is replaced or written."""
    try:
        return signature_of(os.stat(path))
    except FileNotFoundError:
        return None


def read_signed(path: Path) -> tuple[bytes | None, Signature]:
    """The file's bytes and the signature of exactly those bytes (one open: fstat, read).
    A directory, FIFO or device raises :class:`tui.config.NotAFileError` unopened."""
    got = read_user_file(path)
    if got is None:
        return None, None
    raw, st = got
    return raw, signature_of(st)


# -- the save lock ------------------------------------------------------------------------------
class SaveLockError(OSError):
    """The save lock could not be created or was held by another kvmdeck for too long."""


@contextlib.contextmanager
def save_lock(rules_file: Path, wait: float = SAVE_LOCK_WAIT_S) -> Iterator[None]:
    """Hold ``flock`` on ``.rules.save.lock`` beside rules.toml while reading, changing and
    writing it, so two kvmdecks never save over each other's change.

    Not the single-instance lock (``rules.lock``, held for as long as a kvmdeck applies the
    rules): any instance may save. Held for milliseconds; blocks at most ``wait`` seconds (call
    it from a worker thread). The file stays (removing a lock file races with its next user).
    """
    path = Path(rules_file).with_name(SAVE_LOCK_NAME)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise SaveLockError(exc.errno, exc.strerror, str(path)) from exc
    try:
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise SaveLockError(
                        errno.EWOULDBLOCK, "another kvmdeck is saving the rules", str(path)
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # drops the flock


# -- rule tables as text --------------------------------------------------------------------------
def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def rule_items(rule: Rule) -> list[tuple[str, Any]]:
    """The keys kvmdeck writes for ``rule``, in its order (hex ids as "0x046d" strings)."""
    items: list[tuple[str, Any]] = []
    if rule.vendor_id is not None and rule.product_id is not None:
        items += [("vendor", f"0x{rule.vendor_id:04x}"), ("product", f"0x{rule.product_id:04x}")]
    elif rule.port is not None:
        items.append(("port", rule.port))  # a rule by port alone says so first
    items.append(("guest", rule.guest))
    items += [(k, v) for k, v in (("serial", rule.serial), ("port", rule.port)) if v is not None]
    items = list(dict(items).items())  # the port once
    items.append(("persistent", rule.persistent))
    return items


def rule_text(rule: Rule, nl: str = "\n") -> str:
    """A new ``[[rule]]`` table, as kvmdeck writes one."""
    lines = ["[[rule]]"]
    for key, value in rule_items(rule):
        shown = ("true" if value else "false") if isinstance(value, bool) else _toml_str(value)
        lines.append(f"{key} = {shown}")
    return nl.join(lines) + nl


@dataclass(frozen=True)
class Span:
    """The lines of one rule: ``start`` (its comments), ``header``, ``end`` (exclusive)."""

    start: int
    header: int
    end: int


def rule_spans(lines: Sequence[str]) -> list[Span]:
    """Where each ``[[rule]]`` table sits (lines as ``splitlines(keepends=True)`` gives them)."""
    headers = [i for i, line in enumerate(lines) if HEADER_RE.match(line.rstrip("\r\n"))]
    if not headers:
        return []
    starts = []
    floor = 0
    for h in headers:
        s = h
        while s > floor and COMMENT_RE.match(lines[s - 1]):
            s -= 1
        starts.append(s)
        floor = h + 1
    ends = [*starts[1:], len(lines)]
    return [Span(s, h, e) for s, h, e in zip(starts, headers, ends, strict=True)]


def key_line(text: str, index: int | None, key: str) -> int | None:
    """The 1-based line of ``key`` in rule ``index`` (0-based; None: the top level), for error
    messages. None when the layout is not the usual one (then the message names the rule)."""
    lines = text.splitlines(keepends=True)
    spans = rule_spans(lines)
    if index is None:
        lo, hi = 0, spans[0].start if spans else len(lines)
    elif index < len(spans):
        lo, hi = spans[index].header, spans[index].end
    else:
        return None
    if index is not None and key == "":
        return lo + 1
    pattern = re.compile(
        rf"""^[ \t]*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')[ \t]*[=.]"""
    )
    return next((i + 1 for i in range(lo, hi) if pattern.match(lines[i])), None)


def _crlf(text: str, nl: str) -> str:
    return re.sub(r"(?<!\r)\n", "\r\n", text) if nl == "\r\n" else text


def _edit_table(table: Any, rule: Rule) -> None:
    """Set ``rule``'s values in a tomlkit table, keeping the keys, comments and spelling that
    do not change (hex ids as the user wrote them, when they are the same numbers)."""
    wanted = dict(rule_items(rule))
    for key in [k for k in table if k not in wanted]:
        del table[key]
    for key, value in wanted.items():
        if key in ("vendor", "product") and key in table:
            continue  # same selector, so the same numbers: keep the user's spelling
        if key == "persistent" and not value and key not in table:
            continue
        if table.get(key) != value:
            table[key] = value


def _plan(
    old: Sequence[Rule], new: Sequence[Rule]
) -> tuple[set[int], dict[int, Rule], dict[int | None, list[Rule]]]:
    """What to do with the old rules (indexes into ``old``): remove, replace in place (same
    selector), and which new rules go before which old one (None: at the end)."""
    keep = {r: i for i, r in enumerate(old) if r in new}
    removed = {i for i, r in enumerate(old) if r not in keep}
    replace: dict[int, Rule] = {}
    slots: list[int | None] = []
    for rule in new:
        if rule in keep:
            slots.append(keep[rule])
            continue
        same = next((i for i in sorted(removed) if old[i].selector == rule.selector), None)
        if same is not None:
            removed.discard(same)
            replace[same] = rule
        slots.append(same)
    before: dict[int | None, list[Rule]] = {}
    for pos, rule in enumerate(new):
        if rule in keep or rule in replace.values():
            continue
        anchor = next((s for s in slots[pos + 1 :] if s is not None), None)
        before.setdefault(anchor, []).append(rule)
    return removed, replace, before


def edit_text(text: str, old: Sequence[Rule], new: Sequence[Rule]) -> str | None:
    """``text`` (whose rules are ``old``, in order) changed to hold ``new``: only the lines of
    the rules that differ change. None when the ``[[rule]]`` headers do not line up with
    ``old`` (a file written another way: use :func:`edit_document`)."""
    import tomlkit

    lines = text.splitlines(keepends=True)
    spans = rule_spans(lines)
    if len(spans) != len(old):
        return None
    nl = newline_of(text)
    removed, replace, before = _plan(old, new)
    out: list[str] = lines[: spans[0].start] if spans else list(lines)
    for k, span in enumerate(spans):
        out += [rule_text(r, nl) + nl for r in before.get(k, [])]
        if k in removed:
            continue
        chunk = "".join(lines[span.start : span.end])
        if k in replace:
            doc = tomlkit.parse(chunk)
            _edit_table(doc["rule"][0], replace[k])
            chunk = _crlf(doc.as_string(), nl)
        out.append(chunk)
    body = "".join(out)
    if spans and len(spans) - 1 in removed:  # the last rule went: no blank lines left at the end
        body = re.sub(r"(\r?\n)(?:[ \t]*\r?\n)+\Z", r"\1", body)
    for rule in before.get(None, []):
        if body and not body.endswith(("\n", "\r")):
            body += nl
        if body.strip() and not body.endswith(nl + nl):
            body += nl
        body += rule_text(rule, nl)
    return body


def edit_document(text: str, old: Sequence[Rule], new: Sequence[Rule]) -> str:
    """The same change through tomlkit's document (``rule = [{…}, …]`` and other layouts)."""
    import tomlkit

    doc = tomlkit.parse(text)
    removed, replace, before = _plan(old, new)
    if "rule" not in doc:
        doc["rule"] = tomlkit.aot()
    items: Any = doc["rule"]
    inline = isinstance(items, tomlkit.items.Array)

    def make(rule: Rule) -> Any:
        table = tomlkit.inline_table() if inline else tomlkit.table()
        table.update(dict(rule_items(rule)))
        return table

    for i, rule in replace.items():
        _edit_table(items[i], rule)
    for anchor in sorted((a for a in before if a is not None), reverse=True):
        for rule in reversed(before[anchor]):
            items.insert(anchor, make(rule))
    for rule in before.get(None, []):
        items.append(make(rule))
    shift = {a: len(rs) for a, rs in before.items() if a is not None}
    for i in sorted(removed, reverse=True):
        del items[i + sum(n for a, n in shift.items() if a <= i)]
    return _crlf(doc.as_string(), newline_of(text))


__all__ = [
    "SAVE_LOCK_NAME",
    "SaveLockError",
    "Signature",
    "Span",
    "edit_document",
    "edit_text",
    "key_line",
    "newline_of",
    "read_signed",
    "rule_spans",
    "rule_text",
    "save_lock",
    "signature",
]
