"""A guest's snapshots as plain values, and the tree the snapshots screen draws (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    name: str
    parent: str | None
    current: bool
    created: int | None  # seconds since the epoch (libvirt's creationTime)
    state: str  # the guest's state when it was taken: "running", "shutoff", …
    description: str = ""
    memory: bool = False  # holds the guest's memory (reverting resumes where it was)


@dataclass(frozen=True)
class SnapshotList:
    """What the screen shows: the snapshots, and what the disks allow (a reason when not)."""

    snapshots: tuple[Snapshot, ...]
    active: bool  # the guest runs (a new snapshot can hold its memory)
    blocked: str = ""  # why no internal snapshot can be taken (a raw disk), or ""


def tree(snapshots: Sequence[Snapshot]) -> list[tuple[int, Snapshot]]:
    """(depth, snapshot) in tree order: roots by creation time, each followed by its children.
    A snapshot whose parent is missing counts as a root."""
    names = {s.name for s in snapshots}
    children: dict[str | None, list[Snapshot]] = {}
    for s in snapshots:
        parent = s.parent if s.parent in names else None
        children.setdefault(parent, []).append(s)
    for kids in children.values():
        kids.sort(key=lambda s: (s.created or 0, s.name))
    out: list[tuple[int, Snapshot]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            if s.name in seen:  # a cycle cannot happen in libvirt; never loop all the same
                continue
            seen.add(s.name)
            out.append((depth, s))
            walk(s.name, depth + 1)

    walk(None, 0)
    return out


def tree_guides(snapshots: Sequence[Snapshot]) -> list[tuple[str, Snapshot]]:
    """(guide, snapshot) in :func:`tree` order, the guide drawn like ``tree(1)``: "├ " for a
    child with a later sibling, "└ " for the last one, "│ " continuing an open branch above."""
    rows = tree(snapshots)
    out: list[tuple[str, Snapshot]] = []
    for i, (depth, s) in enumerate(rows):
        if depth == 0:
            out.append(("", s))
            continue

        def more_at(level: int, start: int = i + 1) -> bool:
            """Does a later row continue ``level`` before the tree goes shallower than it?"""
            for d, _ in rows[start:]:
                if d < level:
                    return False
                if d == level:
                    return True
            return False

        guide = "".join("│ " if more_at(level) else "  " for level in range(1, depth))
        out.append((guide + ("├ " if more_at(depth) else "└ "), s))
    return out


NAME_CHARS = "-_.+:@"


def name_problem(name: str, taken: Sequence[str] = ()) -> str | None:
    """Why ``name`` cannot name a new snapshot, or None."""
    if not name:
        return "give the snapshot a name"
    if len(name) > 64:
        return "at most 64 characters"
    if not all(c.isalnum() or c in NAME_CHARS for c in name):
        return f"letters, digits and {NAME_CHARS} only"
    if name in taken:
        return f"'{name}' already exists"
    return None
