"""Reading host files through one root path, so tests can point every check at a fixture tree."""

from __future__ import annotations

from pathlib import Path

SMALL = 1 << 20  # no file a check reads is larger than this (cpuinfo of 512 CPUs is ~800 KiB)


def at(root: Path, rel: str) -> Path:
    """``rel`` ('/proc/cpuinfo' or 'proc/cpuinfo') under ``root``."""
    return Path(root) / rel.lstrip("/")


def read_text(root: Path, rel: str, limit: int = SMALL) -> str | None:
    """The first ``limit`` bytes of a file as text, or None when it cannot be read."""
    try:
        with open(at(root, rel), "rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def read_word(root: Path, rel: str) -> str | None:
    """A one-value sysfs file, stripped; None when absent or unreadable."""
    text = read_text(root, rel, 4096)
    return None if text is None else text.strip()


def list_dir(root: Path, rel: str) -> list[str] | None:
    """Sorted entry names, or None when the directory is absent or unreadable."""
    try:
        return sorted(p.name for p in at(root, rel).iterdir())
    except OSError:
        return None


def group_name(root: Path, gid: int) -> str:
    """The name of ``gid`` from ``root/etc/group``, else the number."""
    text = read_text(root, "etc/group") or ""
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].strip() == str(gid):
            return parts[0]
    return str(gid)


def user_name(root: Path, uid: int) -> str:
    """The name of ``uid`` from ``root/etc/passwd``, else the number."""
    text = read_text(root, "etc/passwd") or ""
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].strip() == str(uid):
            return parts[0]
    return str(uid)


def _entries(root: Path, rel: str) -> list[list[str]]:
    text = read_text(root, rel) or ""
    return [line.split(":") for line in text.splitlines() if line.count(":") >= 3]


def lookup_user(root: Path, name: str) -> tuple[int, int] | None:
    """(uid, primary gid) of ``name`` in ``root/etc/passwd``."""
    for parts in _entries(root, "etc/passwd"):
        if parts[0] == name and parts[2].isdigit() and parts[3].isdigit():
            return int(parts[2]), int(parts[3])
    return None


def lookup_group(root: Path, name: str) -> int | None:
    for parts in _entries(root, "etc/group"):
        if parts[0] == name and parts[2].isdigit():
            return int(parts[2])
    return None


def member_gids(root: Path, user: str) -> frozenset[int]:
    """Groups that list ``user`` as a member in ``root/etc/group``."""
    return frozenset(
        int(parts[2])
        for parts in _entries(root, "etc/group")
        if parts[2].isdigit() and user in parts[3].strip().split(",")
    )
