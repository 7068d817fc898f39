"""Key names as Textual spells them, and how a user may write them in ``[keymap]``.

Plain data and functions (no textual), shared by the action registry and the config check.
"""

from __future__ import annotations

import difflib
import string
import unicodedata
from collections.abc import Mapping

MODIFIERS = ("ctrl", "alt", "shift", "meta", "super", "hyper")
NAMED_KEYS = frozenset(
    {
        "escape", "enter", "return", "tab", "space", "backspace", "delete", "insert",
        "home", "end", "pageup", "pagedown", "up", "down", "left", "right",
        *(f"f{i}" for i in range(1, 25)),
    }
)  # fmt: skip
# Textual's friendlier names for some characters (textual.keys.KEY_NAME_REPLACEMENTS).
_REPLACEMENTS = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}
_LABELS = {
    "escape": "Esc",
    "enter": "Enter",
    "return": "Enter",
    "space": "Space",
    "backspace": "Backspace",
    "delete": "Del",
    "insert": "Ins",
    "home": "Home",
    "end": "End",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "tab": "Tab",
}


def char_key(char: str) -> str:
    """A character's Textual key name: ``?`` -> ``question_mark``, ``s`` -> ``s``."""
    if char.isalnum():
        return char
    try:
        name = unicodedata.name(char).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        name = "tab" if char == "\t" else char
    return _REPLACEMENTS.get(name, name)


_CHAR_NAMES = {char_key(c): c for c in string.printable if not c.isspace() or c == " "}


def key_char(name: str) -> str | None:
    """The character a key name stands for (``slash`` -> ``/``), or None for named keys."""
    if len(name) == 1:
        return name
    if name in _CHAR_NAMES:
        return _CHAR_NAMES[name]
    try:
        char = unicodedata.lookup(name.replace("_", " ").upper())
    except KeyError:
        return None
    return char if len(char) == 1 and char.isprintable() and char_key(char) == name else None


def normalize_key(key: str) -> str:
    """What ``App.set_keymap`` does to one key: a single character becomes its name."""
    key = key.strip()
    return char_key(key) if len(key) == 1 else key


def split_key(key: str) -> tuple[list[str], str]:
    """``ctrl+shift+x`` -> (["ctrl", "shift"], "x"); ``ctrl++`` -> (["ctrl"], "plus")."""
    key = normalize_key(key)
    if len(key) > 2 and key.endswith("++"):
        return key[:-2].split("+"), "plus"
    if len(key) > 1 and "+" in key:
        *mods, base = key.split("+")
        return mods, base
    return [], key


def key_problem(key: str) -> str | None:
    """None for a key name Textual can deliver, else what is wrong with it and the fix."""
    key = normalize_key(key)
    if not key:
        return 'an empty key name; name a key such as "ctrl+s" or "F"'
    mods, base = split_key(key)
    for mod in mods:
        if mod not in MODIFIERS:
            if mod.lower() in MODIFIERS:
                return f'modifiers are lowercase: "{"+".join([*(m.lower() for m in mods), base])}"'
            return f"'{mod}' is not a modifier (use {', '.join(MODIFIERS)})"
    if not base:
        return f"'{key}' names no key after the modifier"
    # A character's own name (``slash``, ``question_mark``) only for the printable ASCII ones:
    # Unicode names (``banana``: 🍌) are no key a terminal sends with a modifier.
    if base in NAMED_KEYS or len(base) == 1 or base in _CHAR_NAMES:
        if mods and len(base) == 1 and base.isupper():
            return f'after a modifier letters are lowercase: "{"+".join([*mods, base.lower()])}"'
        if len(base) == 1 and not base.isprintable():
            return f"{base!r} is not a printable character"
        return None
    lowered = base.lower()
    if lowered in NAMED_KEYS or lowered in _CHAR_NAMES:
        return f'key names are lowercase: "{"+".join([*mods, lowered])}"'
    close = difflib.get_close_matches(base, sorted({*NAMED_KEYS, *_CHAR_NAMES}), n=3)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return (
        f"'{base}' is not a key name{hint}; use a character, or a name such as escape, enter, "
        "f5, ctrl+x"
    )


def key_label(key: str) -> str:
    """How a key is written for people: ``question_mark`` -> ``?``, ``ctrl+x`` -> ``Ctrl+X``."""
    mods, base = split_key(key)
    if mods:
        label = key_label(base)
        return "+".join(
            [*(m.capitalize() for m in mods), label.upper() if len(label) == 1 else label]
        )
    if base in _LABELS:
        return _LABELS[base]
    if base.startswith("f") and base[1:].isdigit():
        return base.upper()
    char = key_char(base)
    return char if char is not None else base


# Binding ids that follow another's [keymap] entry: the guest detail screen's lifecycle and
# console keys are the main screen's actions on the guest shown, so "guest.destroy" rebinds X
# on both screens; a detail.* entry of its own rebinds the detail screen's key alone.
FOLLOWS = {
    f"detail.{verb}": f"guest.{verb}"
    for verb in (
        "start",
        "shutdown",
        "reboot",
        "pause",
        "destroy",
        "console",
        "serial",
        "snapshots",
    )
}


def expand_keymap(keymap: Mapping[str, str]) -> dict[str, str]:
    """``[keymap]`` with the ids that follow another (:data:`FOLLOWS`) filled in."""
    return {**{f: keymap[lead] for f, lead in FOLLOWS.items() if lead in keymap}, **keymap}


def leader(binding_id: str, keymap: Mapping[str, str]) -> str:
    """The id a key's [keymap] entry is under: its own, else the one it follows."""
    return binding_id if binding_id in keymap else FOLLOWS.get(binding_id, binding_id)
