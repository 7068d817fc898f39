"""Storage pools, their volumes and who uses them, CD-ROM drives, and transfer progress:
plain values (issue 21: the storage screen, the create form's pool choice, ISO media).

Sizes are bytes. Names and paths come from the host: the UI shows them as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tui.model.jobs import Transfer, human_seconds

POOL_STATES = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}
VOLUME_FORMATS = ("qcow2", "raw")  # what the new volume dialog offers


@dataclass(frozen=True)
class Pool:
    name: str
    uuid: str
    kind: str  # dir, fs, netfs, logical, ...
    state: str  # POOL_STATES' words
    autostart: bool
    persistent: bool
    capacity: int  # bytes; 0 while the pool is not running
    allocation: int
    available: int
    path: str = ""  # the target path ("" when it has none)

    @property
    def active(self) -> bool:
        return self.state in ("running", "degraded")


@dataclass(frozen=True)
class VolumeUse:
    """A guest whose XML names a volume (its disk source is the volume's path)."""

    guest: str
    uuid: str
    target: str  # vda, sda
    device: str  # disk, cdrom
    running: bool

    def describe(self) -> str:
        return f"{self.guest} ({self.target})"


@dataclass(frozen=True)
class Volume:
    pool: str
    name: str
    path: str
    kind: str  # file, block, dir, network, ...
    capacity: int
    allocation: int
    format: str  # qcow2, raw, iso, ... ("" when libvirt does not say)
    users: tuple[VolumeUse, ...] = ()

    @property
    def in_use(self) -> bool:
        return bool(self.users)

    def users_text(self) -> str:
        return ", ".join(u.describe() for u in self.users)


@dataclass(frozen=True)
class CdromDrive:
    """A guest's CD-ROM drive and its medium ("" when empty)."""

    guest: str
    uuid: str
    running: bool
    target: str  # sda, hdc
    bus: str
    source: str = ""

    def describe(self) -> str:
        medium = self.source or "empty"
        return f"{self.guest} {self.target}: {medium}"


# -- input checks (the dialogs and the adapters share them) ---------------------------------
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str, default_unit: str = "g") -> int:
    """``"10G"``, ``"512M"``, ``"1.5 GiB"``, ``"20"`` (GiB) -> bytes. ValueError says why."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"{text.strip() or 'nothing'!r} is not a size: write e.g. 10G or 512M")
    unit = (m.group(2) or default_unit).lower()
    size = int(float(m.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError("a size must be more than 0: write e.g. 10G or 512M")
    return size


def human_size(n: int | float) -> str:
    """1536 -> ``1.5 KiB``; 0 -> ``0 B``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} TiB"  # pragma: no cover (the loop returns)


def name_problem(name: str, taken: list[str] | tuple[str, ...] = (), what: str = "volume") -> str:
    """Why ``name`` cannot name a new volume, pool or network here, or "" when it can."""
    if not name:
        return f"type a {what} name"
    if name in (".", ".."):
        return f"{name!r} cannot name a {what}: choose another name"
    if "/" in name:
        return f"a {what} name cannot hold '/': choose another name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"a {what} name cannot hold control characters"
    if len(name) > 200:
        return f"a {what} name is at most 200 characters"
    if name in taken:
        return f"a {what} named {name} already exists: choose another name"
    return ""


@dataclass(frozen=True)
class Progress(Transfer):
    """A long transfer (upload, copy): bytes done of total after ``elapsed`` seconds."""

    def describe(self) -> str:
        """``45% 12.0 MiB of 27.0 MiB, 5.1 MiB/s, 3 s left``."""
        text = f"{self.fraction * 100:.0f}% {human_size(self.done)} of {human_size(self.total)}"
        if self.rate > 0:
            text += f", {human_size(self.rate)}/s"
        left = self.left_s
        if left is not None:
            text += f", {human_seconds(left)} left"
        return text
