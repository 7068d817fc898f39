"""USB auto-attach rules: the :class:`Rule` and the ``rules.toml`` file that holds them.

No textual and no libvirt here. :func:`load_rules` reads and validates the file (a
:class:`RulesError` names the file, the line, the rule, the key and the fix). :func:`edit_rules`
changes it without losing anything: under the save lock it re-reads the file, applies the one
change to the user's own text (comments, blank lines and order stay byte for byte,
:mod:`tui.core.usb.rulesfile`), parses the result again, and only then writes it atomically
(temp file + rename, mode 0600). A file that does not load is never written. The
single-instance lock is :mod:`tui.core.usb.rulelock`, the engine :mod:`tui.core.usb.engine`.

A rule names its device by vendor:product (plus serial and/or port to tell twins apart), or by
``port`` alone: whatever is plugged into that port.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.config import ConfigError, NotAFileError, rules_path, toml_error, unreadable
from tui.core.usb.rulesfile import (
    SaveLockError,
    Signature,
    edit_document,
    edit_text,
    key_line,
    read_signed,
    rule_items,
    rule_spans,
    rule_text,
    save_lock,
    signature,
)
from tui.model.usb import UsbDevice
from tui.util import atomic_write_text

ROOT_HUB_VENDOR = 0x1D6B
PORT_RE = re.compile(r"^\d+-\d+(\.\d+)*$")
NO_RULES_HINT = "start with no rules"


class RulesError(ConfigError):
    """A rules file that cannot be used. The message names the file, the key and the fix."""


# -- the rule ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """Attach a device matching vendor:product (and serial / port when set) to ``guest``; with
    no vendor:product (both None), whatever is plugged into ``port``.

    ``persistent`` also keeps the device in the guest's saved config (vendor:product, with
    ``startupPolicy='optional'``).
    """

    vendor_id: int | None
    product_id: int | None
    guest: str
    serial: str | None = None
    port: str | None = None  # sysfs bus-port path, "1-1.2"
    persistent: bool = False

    @classmethod
    def for_device(
        cls, dev: UsbDevice, guest: str, *, persistent: bool = False, by: str = "auto"
    ) -> Rule:
        """The rule for ``dev``: ``by`` "ids", "serial", "port" (alone) or "auto" (the serial
        when the device has one, else the ids)."""
        if by == "auto":
            by = "serial" if dev.serial else "ids"
        if by == "port":
            return cls(None, None, guest, port=dev.port, persistent=persistent)
        serial = (dev.serial or None) if by == "serial" else None
        return cls(dev.vendor_id, dev.product_id, guest, serial=serial, persistent=persistent)

    def matches(self, dev: UsbDevice) -> bool:
        if self.vendor_id is not None and (dev.vendor_id, dev.product_id) != (
            self.vendor_id,
            self.product_id,
        ):
            return False
        if self.serial is not None and dev.serial != self.serial:
            return False
        return self.port is None or dev.port == self.port

    @property
    def by_port(self) -> bool:
        """A rule by port alone: whatever is plugged into it."""
        return self.vendor_id is None

    @property
    def ids(self) -> str:
        """The ids as "0403:6001"; empty for a rule by port alone."""
        if self.vendor_id is None or self.product_id is None:
            return ""
        return f"{self.vendor_id:04x}:{self.product_id:04x}"

    @property
    def selector(self) -> tuple[int | None, int | None, str | None, str | None]:
        return (self.vendor_id, self.product_id, self.serial, self.port)

    @property
    def what(self) -> str:
        """How the rule names its device: "0403:6001 serial=S1", "port 2-1.3"."""
        if self.by_port:
            extra = f" serial={self.serial}" if self.serial is not None else ""
            return f"port {self.port}{extra}"
        extra = "".join(
            f" {k}={v}" for k, v in (("serial", self.serial), ("port", self.port)) if v is not None
        )
        return f"{self.ids}{extra}"

    def describe(self) -> str:
        keep = " (persistent)" if self.persistent else ""
        return f"{self.what} → {self.guest}{keep}"


MATCH_KINDS = ("serial", "ids", "port")


def match_choices(dev: UsbDevice) -> list[tuple[str, str]]:
    """How a new rule may name ``dev`` (kind, plain-text label); the first is the default."""
    out = []
    if dev.serial:
        out.append(("serial", f"by serial {dev.serial} ({dev.ids}): this device, in any port"))
    out.append(("ids", f"by vendor:product {dev.ids}: any such device, in any port"))
    if PORT_RE.match(dev.port):
        out.append(("port", f"by port {dev.port}: whatever is plugged into that port"))
    return out


def _port_order(port: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", port)]


def twins_message(rule: Rule, devices: Sequence[UsbDevice], attached: Mapping[str, str]) -> str:
    """Why ``rule`` attaches nothing: it matches several present devices (twins)."""
    ports = ", ".join(sorted((d.port for d in devices), key=_port_order))
    serials = [d.serial for d in devices]
    apart = rule.serial is None and all(serials) and len(set(serials)) == len(serials)
    text = f"matches {len(devices)} devices ({ports}): add {'serial or port' if apart else 'port'}"
    kept = [d.port for d in devices if attached.get(d.key) == rule.guest]
    held = f"{', '.join(kept)} stays attached, no other" if kept else "none"
    return f"{text} to the rule ({held} is attached by it)"


# -- rules.toml --------------------------------------------------------------------------------
_RULE_KEYS = ("vendor", "product", "guest", "serial", "port", "persistent")
_TOP_KEYS = ("version", "rule")
HEADER = (
    "# kvmdeck USB auto-attach rules. Edit by hand, or with R and D on the USB screen: kvmdeck\n"
    "# then changes only that rule and keeps your comments and order. Each [[rule]]: guest, and\n"
    '# vendor + product (hex USB ids, lsusb\'s ID column), optionally serial and port ("1-1.2");\n'
    "# or port alone: whatever is plugged into that port. persistent = true also keeps the\n"
    "# device in the guest's saved config. The first rule that matches a device wins.\n"
)


def _hex_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 0xFFFF else None
    if isinstance(value, str):
        text = value.strip().lower()
        text = text[2:] if text.startswith("0x") else text
        if re.fullmatch(r"[0-9a-f]{1,4}", text):
            return int(text, 16)
    return None


def parse_rules(data: Mapping[str, Any], path: Path, text: str | None = None) -> list[Rule]:
    """Validate parsed TOML; raise :class:`RulesError` naming the file, the line (when ``text``,
    the file's own text, shows it), the rule and the key."""

    def at(index: int | None, key: str = "") -> str:
        line = key_line(text, index, key) if text is not None else None
        where = f"{path}:{line}" if line else str(path)
        return where if index is None else f"{where}: rule {index + 1}"

    for key in data:
        if key not in _TOP_KEYS:
            raise RulesError(
                f"{at(None, key)}: unknown top-level key '{key}'. Known: version, [[rule]]. "
                "Remove it or fix its spelling."
            )
    version = data.get("version", 1)
    if version != 1:
        raise RulesError(
            f"{at(None, 'version')}: key 'version' is {version!r}; this kvmdeck reads version 1. "
            "Set version = 1 or upgrade kvmdeck."
        )
    items = data.get("rule", [])
    if not isinstance(items, list):
        raise RulesError(
            f"{at(None, 'rule')}: 'rule' must be an array of tables ([[rule]]), not a single "
            "[rule] table. Write [[rule]] with double brackets."
        )
    if text is not None and len(rule_spans(text.splitlines(keepends=True))) != len(items):
        text = None  # an unusual layout: the messages name the rule, not the line
    rules: list[Rule] = []
    seen: dict[tuple[int | None, int | None, str | None, str | None], int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RulesError(f"{at(i)} must be a table ([[rule]] with keys), not {item!r}.")
        unknown = [k for k in item if k not in _RULE_KEYS]
        if unknown:
            raise RulesError(
                f"{at(i, unknown[0])}: unknown key '{unknown[0]}'. Known: {', '.join(_RULE_KEYS)}. "
                "Remove it or fix its spelling."
            )
        port = item.get("port")
        if port is not None and (not isinstance(port, str) or not PORT_RE.match(port)):
            raise RulesError(
                f"{at(i, 'port')}: key 'port' must be a USB port path such as \"1-1.2\" "
                f"(bus-port.port), not {port!r}. Fix or remove 'port'."
            )
        ids: dict[str, int | None] = {"vendor": None, "product": None}
        if port is None or "vendor" in item or "product" in item:
            for key in ("vendor", "product"):
                if key not in item:
                    both = " Give both vendor and product, or neither and a port." if port else ""
                    raise RulesError(
                        f"{at(i)}: key '{key}' is missing. Add it, e.g. {key} = \"0x046d\" "
                        f'(see lsusb\'s ID column), or name the device by port = "1-1.2" alone.'
                        f"{both}"
                    )
                number = _hex_id(item[key])
                if number is None:
                    raise RulesError(
                        f"{at(i, key)}: key '{key}' must be a hex USB id such as \"0x046d\", "
                        f"not {item[key]!r}. Fix '{key}'."
                    )
                ids[key] = number
        if ids["vendor"] == ROOT_HUB_VENDOR:
            raise RulesError(
                f"{at(i, 'vendor')}: vendor 0x1d6b is the Linux root hub, which cannot be passed "
                "to a guest. Use the device's own vendor id."
            )
        guest = item.get("guest")
        if not isinstance(guest, str) or not guest.strip() or "/" in guest:
            raise RulesError(
                f"{at(i, 'guest' if 'guest' in item else '')}: key 'guest' must be the guest's "
                f"name (a non-empty string without '/'), not {guest!r}. Fix 'guest'."
            )
        serial = item.get("serial")
        if serial is not None and (not isinstance(serial, str) or not serial):
            raise RulesError(
                f"{at(i, 'serial')}: key 'serial' must be a non-empty string (lsusb -v's "
                f"iSerial), not {serial!r}. Fix or remove 'serial'."
            )
        persistent = item.get("persistent", False)
        if not isinstance(persistent, bool):
            raise RulesError(
                f"{at(i, 'persistent')}: key 'persistent' must be true or false, not "
                f"{persistent!r}. Fix 'persistent'."
            )
        rule = Rule(ids["vendor"], ids["product"], guest.strip(), serial, port, persistent)
        if rule.selector in seen:
            raise RulesError(
                f"{at(i)} matches the same devices as rule {seen[rule.selector]} "
                f"({rule.what}). Remove one, or add 'serial' or 'port' to tell them apart."
            )
        seen[rule.selector] = i + 1
        rules.append(rule)
    return rules


def _loads(raw: bytes, path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulesError(f"{path}: not UTF-8 text ({exc.reason}). Save it as UTF-8.") from exc
    try:
        return text, tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # 500 levels deep: RecursionError
        raise RulesError(toml_error(path, text, exc, NO_RULES_HINT)) from exc


def read_rules_signed(path: Path) -> tuple[bytes | None, Signature]:
    """rules.toml's bytes (None: no file) and the signature of exactly those bytes."""
    try:
        return read_signed(path)
    except OSError as exc:  # a directory, a FIFO, a device (never opened), or no permission
        raise RulesError(unreadable(path, exc, NO_RULES_HINT)) from exc


def rules_from_bytes(raw: bytes | None, path: Path) -> list[Rule]:
    """Parse and validate the file's bytes (None: no file, no rules)."""
    if raw is None:
        return []
    text, data = _loads(raw, path)
    return parse_rules(data, path, text)


def read_rules(path: Path | None = None) -> tuple[list[Rule], Signature]:
    """The rules and the signature of the very bytes they came from (None: no file)."""
    path = rules_path() if path is None else Path(path)
    raw, sig = read_rules_signed(path)
    return rules_from_bytes(raw, path), sig


def load_rules(path: Path | None = None) -> list[Rule]:
    """Read and validate ``rules.toml``. A missing file means no rules."""
    return read_rules(path)[0]


def dump_rules(rules: Iterable[Rule]) -> str:
    """A whole new file (kvmdeck's header, then the rules)."""
    return "".join([HEADER, "version = 1\n", *("\n" + rule_text(r) for r in rules)])


_SAVE_FIX = {
    errno.EROFS: "the file system is read-only: rules cannot be saved here",
    errno.EACCES: "no permission to write there: fix the directory's permissions",
    errno.EPERM: "no permission to write there: fix the directory's permissions",
    errno.ENOSPC: "the disk is full: free some space, then try again",
    errno.EDQUOT: "the disk quota is used up: free some space, then try again",
    errno.EWOULDBLOCK: "another kvmdeck is saving the rules: try again",
}


def edit_rules(
    change: Callable[[list[Rule]], list[Rule]], path: Path | None = None
) -> tuple[list[Rule], Signature]:
    """Read-modify-write under the save lock: re-read ``rules.toml`` (a hand edit or another
    instance's change is kept), apply ``change``, edit only the rules that differ in the file's
    own text, parse the result, write it atomically. Returns the rules now in the file and its
    signature. A file that does not load is never written (its :class:`RulesError` is raised);
    neither is a result that would not load back to exactly ``change``'s rules. Blocks."""
    path = rules_path() if path is None else Path(path)
    # A symlink stays one: its target is written (temp + rename in the target's directory)
    # and keeps its own mode; a file of kvmdeck's own is 0600.
    target = path.resolve() if path.is_symlink() else path
    try:
        with save_lock(path):
            raw, sig = read_signed(target)
            text, data = _loads(raw, path) if raw is not None else ("", {})
            old = parse_rules(data, path, text)
            new = list(change(list(old)))
            parse_rules({"rule": [dict(rule_items(r)) for r in new]}, path)  # dupes, bad values
            base = text if raw is not None else HEADER + "version = 1\n"
            edited = _try(edit_text, base, old, new)
            if edited is None or not _holds(edited, new):
                edited = _try(edit_document, base, old, new)
            if edited is None or not _holds(edited, new):
                raise RulesError(
                    f"{path}: kvmdeck cannot make this change without touching your other "
                    "lines; nothing was written. Make it by hand (see the rules' header)."
                )
            if raw is not None and edited == text:
                return old, sig
            mode = 0o600
            if target is not path and sig is not None:
                mode = stat.S_IMODE(os.stat(target).st_mode)
            atomic_write_text(target, edited, mode=mode)
            return parse_rules(tomllib.loads(edited), path), signature(target)
    except NotAFileError as exc:
        raise RulesError(unreadable(path, exc, NO_RULES_HINT)) from exc
    except (OSError, SaveLockError) as exc:
        fix = _SAVE_FIX.get(exc.errno or 0, "check the directory")
        raise RulesError(
            f"{path}: rules not saved ({exc.strerror or exc}); the file is unchanged. {fix}."
        ) from exc


def _try(
    edit: Callable[[str, Sequence[Rule], Sequence[Rule]], str | None],
    text: str,
    old: Sequence[Rule],
    new: Sequence[Rule],
) -> str | None:
    """An edit, or None when it fails on a layout it does not expect (tomlkit raises its own
    errors there): the result is checked anyway, and nothing unchecked is ever written."""
    try:
        return edit(text, old, new)
    except Exception:
        return None


def _holds(text: str, rules: Sequence[Rule]) -> bool:
    """Does ``text`` load back to exactly ``rules`` (in any order)?"""
    try:
        return Counter(parse_rules(tomllib.loads(text), Path("rules.toml"))) == Counter(rules)
    except (tomllib.TOMLDecodeError, RulesError):
        return False


def update_rules(
    change: Callable[[list[Rule]], list[Rule]], path: Path | None = None
) -> list[Rule]:
    """:func:`edit_rules` without the signature."""
    return edit_rules(change, path)[0]


def save_rules(rules: Iterable[Rule], path: Path | None = None) -> Path:
    """Make ``rules.toml`` hold exactly ``rules``: the ones already there keep their lines and
    comments, the others are removed or added (:func:`edit_rules`). Returns the path."""
    path = rules_path() if path is None else Path(path)
    wanted = list(rules)
    edit_rules(lambda _old: wanted, path)
    return path


__all__ = [
    "HEADER",
    "MATCH_KINDS",
    "PORT_RE",
    "Rule",
    "RulesError",
    "Signature",
    "dump_rules",
    "edit_rules",
    "load_rules",
    "match_choices",
    "parse_rules",
    "read_rules",
    "read_rules_signed",
    "rules_from_bytes",
    "save_rules",
    "signature",
    "twins_message",
    "update_rules",
]
