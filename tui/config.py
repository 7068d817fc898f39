"""User settings: ``$XDG_CONFIG_HOME/kvmdeck/config.toml``, read-only for kvmdeck.

kvmdeck never writes ``config.toml`` (it is the user's file, with their comments). State the app
saves (USB rules, for example) goes into app-owned files beside it, written atomically.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.registry import validate_keymap


class ConfigError(Exception):
    """A config file that cannot be used. The message names the file, the place and the fix."""


@dataclass(frozen=True)
class HostEntry:
    uri: str
    name: str | None = None


@dataclass(frozen=True)
class Settings:
    uri: str | None = None
    hosts: tuple[HostEntry, ...] = ()
    refresh: float = 1.0
    readonly: bool = False
    show_loopback: bool = False
    show_root_hubs: bool = False
    keep_viewers: bool = False
    keymap: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


MIN_REFRESH = 0.25
MAX_REFRESH = 3600.0


def config_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "kvmdeck"


def config_path(env: dict[str, str] | None = None) -> Path:
    return config_dir(env) / "config.toml"


def rules_path(env: dict[str, str] | None = None) -> Path:
    """App-owned USB rules file, beside config.toml."""
    return config_dir(env) / "rules.toml"


_LINE_RE = re.compile(r"\(?at line (\d+), column (\d+)\)?")
_END_RE = re.compile(r"\(?at end of document\)?")

# key -> (expected type(s), human type name)
_SCALARS: dict[str, tuple[tuple[type, ...], str]] = {
    "uri": ((str,), 'a string such as "qemu:///system"'),
    "refresh": ((int, float), "a number of seconds"),
    "readonly": ((bool,), "true or false"),
    "show_loopback": ((bool,), "true or false"),
    "show_root_hubs": ((bool,), "true or false"),
    "keep_viewers": ((bool,), "true or false"),
}
_TABLES = {"hosts", "keymap"}


_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class NotAFileError(OSError):
    """A user's file that is a directory, a FIFO, a device or a socket: never opened (a FIFO
    would block the open for ever, a device open may act)."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a file")
        self.path, self.kind = path, kind


def read_user_file(path: Path) -> tuple[bytes, os.stat_result] | None:
    """The bytes of a user's file and the ``fstat`` of exactly what was read; None when it
    does not exist. Raises :class:`NotAFileError` for anything but a regular file (looked at
    with ``stat`` before any open; the open is non-blocking and checked again with ``fstat``),
    and ``OSError`` when it cannot be read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise NotAFileError(path, _FILE_KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file"))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
            kind = _FILE_KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise NotAFileError(path, kind)
        return handle.read(), st


def unreadable(path: Path, exc: OSError, missing_hint: str) -> str:
    """Why a user's file cannot be read, and the fix."""
    if isinstance(exc, NotAFileError):
        return (
            f"{path}: is {exc.kind}, not a file. kvmdeck reads a TOML file there: replace it "
            f"with one, or move it away to {missing_hint}."
        )
    return f"{path}: cannot read it ({exc.strerror or exc}). Fix its permissions."


def toml_error(path: Path, text: str, exc: Exception, missing_hint: str) -> str:
    """A TOML file that does not parse: the file, the line (Python 3.11's TOMLDecodeError has
    it only in its message text; "at end of document" is the last line), and the fix."""
    if isinstance(exc, RecursionError):
        return (
            f"{path}: nested too deep (arrays or tables hundreds of levels inside each other); "
            f"kvmdeck does not read it. Flatten it, or move the file away to {missing_hint}."
        )
    msg = str(exc)
    m = _LINE_RE.search(msg)
    if m is not None:
        line, where = m.group(1), f"line {m.group(1)}, column {m.group(2)}"
    else:
        line = str(max(1, len(text.splitlines())))
        where = f"the end of the file (line {line})"
    reason = _END_RE.sub("", _LINE_RE.sub("", msg)).strip()
    return (
        f"{path}:{line}: TOML syntax error at {where}: {reason}. "
        f"Fix that line (see https://toml.io) or move the file away to {missing_hint}."
    )


def read_toml(path: Path, error: type[ConfigError], missing_hint: str) -> dict[str, Any] | None:
    """Read a TOML file of the user's. None when it does not exist.

    Errors raise ``error`` naming the file, the line and the fix (:func:`toml_error`); a
    directory, FIFO or device is never opened (:func:`read_user_file`); ``missing_hint`` says
    what moving the file away does.
    """
    try:
        got = read_user_file(path)
    except OSError as exc:
        raise error(unreadable(path, exc, missing_hint)) from exc
    if got is None:
        return None
    try:
        text = got[0].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason}). Save it as UTF-8.") from exc
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise error(toml_error(path, text, exc, missing_hint)) from exc


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the config. A missing file gives the defaults."""
    path = config_path() if path is None else Path(path)
    data = read_toml(path, ConfigError, "use the defaults")
    if data is None:
        return Settings(path=None)
    return parse_settings(data, path)


def parse_settings(data: dict[str, Any], path: Path) -> Settings:
    known = sorted([*_SCALARS, *_TABLES])
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SCALARS:
            types, human = _SCALARS[key]
            if isinstance(value, bool) and bool not in types:
                ok = False
            else:
                ok = isinstance(value, types)
            if not ok:
                raise ConfigError(
                    f"{path}: key '{key}' must be {human}, not {type(value).__name__} "
                    f"({value!r}). Fix the value of '{key}'."
                )
            values[key] = value
        elif key == "hosts":
            values["hosts"] = _parse_hosts(value, path)
        elif key == "keymap":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(
                    f'{path}: [keymap] must map binding ids to keys, e.g. "refresh.faster" = '
                    '"ctrl+up".'
                )
            _check_keymap(value, path)
            values["keymap"] = dict(value)
        else:
            raise ConfigError(
                f"{path}: unknown key '{key}'. Known keys: {', '.join(known)}. "
                "Remove it or fix its spelling."
            )
    refresh = float(values.get("refresh", 1.0))
    if not MIN_REFRESH <= refresh <= MAX_REFRESH:
        raise ConfigError(
            f"{path}: key 'refresh' is {refresh}, outside {MIN_REFRESH}..{MAX_REFRESH} seconds. "
            "Pick a value in that range."
        )
    values["refresh"] = refresh
    return Settings(path=path, **values)


def _check_keymap(keymap: dict[str, str], path: Path) -> None:
    """Every binding id known, every key a key, no key bound twice on one screen."""
    errors = validate_keymap(keymap)
    if len(errors) == 1:
        raise ConfigError(f"{path}: [keymap] {errors[0]}")
    if errors:
        lines = "\n".join(f"  - {e}" for e in errors)
        raise ConfigError(f"{path}: [keymap] has {len(errors)} problems:\n{lines}")


def _parse_hosts(value: Any, path: Path) -> tuple[HostEntry, ...]:
    if not isinstance(value, list):
        raise ConfigError(
            f"{path}: key 'hosts' must be an array of tables: [[hosts]] uri = \"qemu:///system\"."
        )
    hosts = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: hosts[{i}] must be a table with a 'uri' key.")
        uri = item.get("uri")
        if not isinstance(uri, str) or not uri:
            raise ConfigError(f"{path}: key 'hosts[{i}].uri' must be a non-empty string.")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"{path}: key 'hosts[{i}].name' must be a string.")
        extra = set(item) - {"uri", "name"}
        if extra:
            raise ConfigError(
                f"{path}: unknown key 'hosts[{i}].{sorted(extra)[0]}'. Known: uri, name."
            )
        hosts.append(HostEntry(uri=uri, name=name))
    return tuple(hosts)
