"""USB auto-attach rules: the :class:`Rule` and the ``rules.toml`` file that holds them.

No textual and no libvirt here. :func:`load_rules` reads and validates the file (a
:class:`RulesError` names the file, the rule, the key and the fix); :func:`save_rules` writes it
atomically. The single-instance lock is :mod:`tui.core.usb.rulelock`, the engine :mod:`tui.core.usb.engine`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.config import ConfigError, read_toml, rules_path
from tui.model.usb import UsbDevice
from tui.util import atomic_write_text

ROOT_HUB_VENDOR = 0x1D6B
PORT_RE = re.compile(r"^\d+-\d+(\.\d+)*$")


class RulesError(ConfigError):
    """A rules file that cannot be used. The message names the file, the key and the fix."""


# -- the rule ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """Attach a device matching vendor:product (and serial / port when set) to ``guest``.

    ``persistent`` also keeps the device in the guest's saved config (vendor:product, with
    ``startupPolicy='optional'``).
    """

    vendor_id: int
    product_id: int
    guest: str
    serial: str | None = None
    port: str | None = None  # sysfs bus-port path, "1-1.2"
    persistent: bool = False

    def matches(self, dev: UsbDevice) -> bool:
        if (dev.vendor_id, dev.product_id) != (self.vendor_id, self.product_id):
            return False
        if self.serial is not None and dev.serial != self.serial:
            return False
        return self.port is None or dev.port == self.port

    @property
    def ids(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"

    @property
    def selector(self) -> tuple[int, int, str | None, str | None]:
        return (self.vendor_id, self.product_id, self.serial, self.port)

    def describe(self) -> str:
        extra = "".join(
            f" {k}={v}" for k, v in (("serial", self.serial), ("port", self.port)) if v is not None
        )
        keep = " (persistent)" if self.persistent else ""
        return f"{self.ids}{extra} → {self.guest}{keep}"


# -- rules.toml --------------------------------------------------------------------------------
_RULE_KEYS = ("vendor", "product", "guest", "serial", "port", "persistent")
_TOP_KEYS = ("version", "rule")
HEADER = (
    "# kvmdeck USB auto-attach rules. kvmdeck rewrites this file when rules change in the UI.\n"
    '# Each [[rule]]: vendor, product (hex USB ids), guest; optional serial, port ("1-1.2"),\n'
    "# persistent (also keep it in the guest's saved config).\n"
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


def parse_rules(data: Mapping[str, Any], path: Path) -> list[Rule]:
    """Validate parsed TOML; raise :class:`RulesError` naming the file, the rule and the key."""
    for key in data:
        if key not in _TOP_KEYS:
            raise RulesError(
                f"{path}: unknown top-level key '{key}'. Known: version, [[rule]]. "
                "Remove it or fix its spelling."
            )
    version = data.get("version", 1)
    if version != 1:
        raise RulesError(
            f"{path}: key 'version' is {version!r}; this kvmdeck reads version 1. "
            "Set version = 1 or upgrade kvmdeck."
        )
    items = data.get("rule", [])
    if not isinstance(items, list):
        raise RulesError(
            f"{path}: 'rule' must be an array of tables ([[rule]]), not a single [rule] table. "
            "Write [[rule]] with double brackets."
        )
    rules: list[Rule] = []
    seen: dict[tuple[int, int, str | None, str | None], int] = {}
    for i, item in enumerate(items, 1):
        where = f"{path}: rule {i}"
        if not isinstance(item, dict):
            raise RulesError(f"{where} must be a table ([[rule]] with keys), not {item!r}.")
        unknown = [k for k in item if k not in _RULE_KEYS]
        if unknown:
            raise RulesError(
                f"{where}: unknown key '{unknown[0]}'. Known: {', '.join(_RULE_KEYS)}. "
                "Remove it or fix its spelling."
            )
        ids = {}
        for key in ("vendor", "product"):
            if key not in item:
                raise RulesError(
                    f"{where}: key '{key}' is missing. Add it, e.g. {key} = \"0x046d\" "
                    "(see lsusb's ID column)."
                )
            number = _hex_id(item[key])
            if number is None:
                raise RulesError(
                    f"{where}: key '{key}' must be a hex USB id such as \"0x046d\", "
                    f"not {item[key]!r}. Fix '{key}'."
                )
            ids[key] = number
        if ids["vendor"] == ROOT_HUB_VENDOR:
            raise RulesError(
                f"{where}: vendor 0x1d6b is the Linux root hub, which cannot be passed to a "
                "guest. Use the device's own vendor id."
            )
        guest = item.get("guest")
        if not isinstance(guest, str) or not guest.strip() or "/" in guest:
            raise RulesError(
                f"{where}: key 'guest' must be the guest's name (a non-empty string without "
                f"'/'), not {guest!r}. Fix 'guest'."
            )
        serial = item.get("serial")
        if serial is not None and (not isinstance(serial, str) or not serial):
            raise RulesError(
                f"{where}: key 'serial' must be a non-empty string (lsusb -v's iSerial), "
                f"not {serial!r}. Fix or remove 'serial'."
            )
        port = item.get("port")
        if port is not None and (not isinstance(port, str) or not PORT_RE.match(port)):
            raise RulesError(
                f"{where}: key 'port' must be a USB port path such as \"1-1.2\" (bus-port.port), "
                f"not {port!r}. Fix or remove 'port'."
            )
        persistent = item.get("persistent", False)
        if not isinstance(persistent, bool):
            raise RulesError(
                f"{where}: key 'persistent' must be true or false, not {persistent!r}. "
                "Fix 'persistent'."
            )
        rule = Rule(ids["vendor"], ids["product"], guest.strip(), serial, port, persistent)
        if rule.selector in seen:
            raise RulesError(
                f"{where} matches the same devices as rule {seen[rule.selector]} "
                f"({rule.ids}). Remove one, or add 'serial' or 'port' to tell them apart."
            )
        seen[rule.selector] = i
        rules.append(rule)
    return rules


def load_rules(path: Path | None = None) -> list[Rule]:
    """Read and validate ``rules.toml``. A missing file means no rules."""
    path = rules_path() if path is None else Path(path)
    data = read_toml(path, RulesError, "start with no rules")
    if data is None:
        return []
    return parse_rules(data, path)


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def dump_rules(rules: Iterable[Rule]) -> str:
    out = [HEADER, "version = 1\n"]
    for r in rules:
        out.append("\n[[rule]]\n")
        out.append(f'vendor = "0x{r.vendor_id:04x}"\nproduct = "0x{r.product_id:04x}"\n')
        out.append(f"guest = {_toml_str(r.guest)}\n")
        if r.serial is not None:
            out.append(f"serial = {_toml_str(r.serial)}\n")
        if r.port is not None:
            out.append(f"port = {_toml_str(r.port)}\n")
        out.append(f"persistent = {'true' if r.persistent else 'false'}\n")
    return "".join(out)


def save_rules(rules: Iterable[Rule], path: Path | None = None) -> Path:
    """Validate, then write ``rules.toml`` atomically (temp file + rename; never config.toml)."""
    path = rules_path() if path is None else Path(path)
    text = dump_rules(rules)
    parse_rules(tomllib.loads(text), path)  # never write a file we would refuse to read
    atomic_write_text(path, text, mode=0o600)
    return path


def update_rules(
    change: Callable[[list[Rule]], list[Rule]], path: Path | None = None
) -> list[Rule]:
    """Read-modify-write: re-read ``rules.toml`` (so a hand edit or another instance's change
    is kept), apply ``change``, write it atomically, return the new rules. A file that does not
    load is never written: its :class:`RulesError` is raised instead. Blocks (file I/O)."""
    path = rules_path() if path is None else Path(path)
    rules = change(load_rules(path))
    save_rules(rules, path)
    return rules


__all__ = [
    "Rule",
    "RulesError",
    "dump_rules",
    "load_rules",
    "parse_rules",
    "save_rules",
    "update_rules",
]
