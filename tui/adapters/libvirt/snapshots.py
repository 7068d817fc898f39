"""A guest's snapshots through libvirt: list (as a tree), create, revert, delete.

Internal snapshots only (the ones libvirt keeps inside qcow2 images and can revert): every
writable disk must be qcow2. A raw disk is named with the fix before libvirt is asked. Every
function blocks (creating a snapshot with memory under TCG takes seconds): call them from a
daemon thread. Errors are :class:`SnapshotError` with a sentence for the operator.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import libvirt

from tui.model.snapshots import Snapshot, SnapshotList, name_problem

# libvirt's words -> the operator's (substring of libvirt's message -> what to say)
EXPLAIN: tuple[tuple[str, str], ...] = (
    (
        "internal snapshot",
        "internal snapshots need qcow2 disks",
    ),
    (
        "must include the memory",
        "a running guest's snapshot holds its memory here (libvirt + QEMU internal snapshots):"
        " shut the guest down for a disk-only snapshot",
    ),
    (
        "pflash",
        "UEFI guests (pflash NVRAM) cannot take internal snapshots",
    ),
)


class SnapshotError(Exception):
    """A snapshot operation failed; the message says why in the operator's words."""


def _text(el: ET.Element | None, path: str) -> str:
    found = el.find(path) if el is not None else None
    return (found.text or "").strip() if found is not None else ""


def parse_snapshot(xml: str, current: bool) -> Snapshot:
    root = ET.fromstring(xml)
    created = _text(root, "creationTime")
    memory = root.find("memory")
    state = _text(root, "state")
    if memory is not None:
        holds = memory.get("snapshot") == "internal"
    else:  # older metadata: a snapshot of a running guest held its memory
        holds = state in ("running", "paused")
    return Snapshot(
        name=_text(root, "name"),
        parent=_text(root, "parent/name") or None,
        current=current,
        created=int(created) if created.isdigit() else None,
        state=state,
        description=_text(root, "description"),
        memory=holds,
    )


def blocked_reason(domain_xml: str) -> str:
    """Why this guest cannot take an internal snapshot (its disks), or "" when it can."""
    root = ET.fromstring(domain_xml)
    raw: list[str] = []
    for disk in root.findall("devices/disk"):
        if disk.get("device", "disk") not in ("disk",) or disk.find("readonly") is not None:
            continue
        driver = disk.find("driver")
        fmt = driver.get("type", "raw") if driver is not None else "raw"
        if fmt != "qcow2":
            target = disk.find("target")
            dev = target.get("dev", "?") if target is not None else "?"
            src = disk.find("source")
            path = ""
            if src is not None:
                path = src.get("file") or src.get("dev") or src.get("name") or ""
            raw.append(f"{dev} is {fmt}" + (f" ({path})" if path else ""))
    if not raw:
        return ""
    return (
        "internal snapshots need qcow2 disks: "
        + "; ".join(raw)
        + ". Convert with `qemu-img convert -O qcow2 SRC DST` while the guest is shut off and"
        " point the disk at DST (driver type='qcow2')."
    )


def _explain(exc: libvirt.libvirtError, what: str) -> SnapshotError:
    message = exc.get_error_message() or str(exc)
    low = message.lower()
    for needle, said in EXPLAIN:
        if needle in low:
            return SnapshotError(f"{what}: {said} (libvirt: {message})")
    return SnapshotError(f"{what}: {message}")


def _domain(conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain:
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as exc:
        raise _explain(exc, "guest not found") from exc


def list_snapshots(conn: libvirt.virConnect, uuid: str) -> SnapshotList:
    dom = _domain(conn, uuid)
    try:
        snaps = dom.listAllSnapshots(0)
        current = ""
        if dom.hasCurrentSnapshot(0):
            current = dom.snapshotCurrent(0).getName()
        out = tuple(parse_snapshot(s.getXMLDesc(0), s.getName() == current) for s in snaps)
        active = bool(dom.isActive())
        blocked = blocked_reason(dom.XMLDesc(0))
    except libvirt.libvirtError as exc:
        raise _explain(exc, "cannot list the snapshots") from exc
    return SnapshotList(out, active, blocked)


def snapshot_xml(name: str, description: str, memory: bool, active: bool) -> str:
    mem = ""
    if active:
        mem = "<memory snapshot='internal'/>" if memory else "<memory snapshot='no'/>"
    desc = f"<description>{escape(description)}</description>" if description else ""
    return f"<domainsnapshot><name>{escape(name)}</name>{desc}{mem}</domainsnapshot>"


def create(conn: libvirt.virConnect, uuid: str, name: str, description: str, memory: bool) -> str:
    """Take an internal snapshot; returns what to tell the operator."""
    dom = _domain(conn, uuid)
    try:
        taken = [s.getName() for s in dom.listAllSnapshots(0)]
        blocked = blocked_reason(dom.XMLDesc(0))
        active = bool(dom.isActive())
    except libvirt.libvirtError as exc:
        raise _explain(exc, f"snapshot {name}") from exc
    problem = name_problem(name, taken)
    if problem:
        raise SnapshotError(f"snapshot {name!r}: {problem}")
    if blocked:
        raise SnapshotError(f"snapshot {name}: {blocked}")
    if active and not memory:
        raise SnapshotError(
            f"snapshot {name}: a running guest's internal snapshot holds its memory"
            " (libvirt 9 takes disk-only snapshots of a running guest as external files only):"
            " choose with memory, or shut the guest down first"
        )
    try:
        dom.snapshotCreateXML(snapshot_xml(name, description, memory, active), 0)
    except libvirt.libvirtError as exc:
        raise _explain(exc, f"snapshot {name}") from exc
    kind = "with memory" if active and memory else "disk only"
    return f"snapshot {name} of {dom.name()} taken ({kind})"


def revert(conn: libvirt.virConnect, uuid: str, name: str) -> str:
    dom = _domain(conn, uuid)
    try:
        snap = dom.snapshotLookupByName(name, 0)
        dom.revertToSnapshot(snap, 0)
        state = "running" if dom.isActive() else "shut off"
    except libvirt.libvirtError as exc:
        raise _explain(exc, f"revert to {name}") from exc
    return f"{dom.name()} reverted to snapshot {name} (now {state})"


def delete(conn: libvirt.virConnect, uuid: str, name: str) -> str:
    dom = _domain(conn, uuid)
    try:
        snap = dom.snapshotLookupByName(name, 0)
        snap.delete(0)
    except libvirt.libvirtError as exc:
        raise _explain(exc, f"delete snapshot {name}") from exc
    return f"snapshot {name} of {dom.name()} deleted"
