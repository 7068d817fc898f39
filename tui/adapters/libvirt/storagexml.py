"""The XML side of storage (pure, no connection): which guests' disks name which paths, a
guest's CD-ROM drives, a CD-ROM's ``<disk>`` with a new medium or none, new volume and pool
definitions, and an image's format from its first bytes."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from tui.model.backend import BackendError
from tui.model.storage import CdromDrive, VolumeUse


def disk_uses(name: str, uuid: str, running: bool, xml: str) -> list[tuple[str, VolumeUse]]:
    """(key, use) for each disk source in a domain XML: key is the path, or ``pool/volume``
    for ``type='volume'`` disks."""
    out: list[tuple[str, VolumeUse]] = []
    root = ET.fromstring(xml)
    for disk in root.findall("devices/disk"):
        src = disk.find("source")
        if src is None:
            continue
        target = disk.find("target")
        dev = target.get("dev", "?") if target is not None else "?"
        use = VolumeUse(name, uuid, dev, disk.get("device", "disk"), running)
        path = src.get("file") or src.get("dev") or src.get("dir")
        if path:
            out.append((os.path.normpath(path), use))
        elif src.get("pool") and src.get("volume"):
            out.append((f"{src.get('pool')}/{src.get('volume')}", use))
    return out


def cdrom_drives(name: str, uuid: str, running: bool, xml: str) -> list[CdromDrive]:
    root = ET.fromstring(xml)
    drives = []
    for disk in root.findall("devices/disk"):
        if disk.get("device") != "cdrom":
            continue
        target = disk.find("target")
        src = disk.find("source")
        source = ""
        if src is not None:
            source = src.get("file") or src.get("dev") or src.get("volume") or ""
        drives.append(
            CdromDrive(
                name,
                uuid,
                running,
                target.get("dev", "") if target is not None else "",
                target.get("bus", "") if target is not None else "",
                source,
            )
        )
    return drives


def media_xml(domain_xml: str, target: str, path: str | None) -> str:
    """The ``<disk>`` of CD-ROM ``target`` with ``path`` as its medium (None: ejected)."""
    root = ET.fromstring(domain_xml)
    for disk in root.findall("devices/disk"):
        t = disk.find("target")
        if disk.get("device") != "cdrom" or t is None or t.get("dev") != target:
            continue
        for src in disk.findall("source"):
            disk.remove(src)
        if path is not None:
            disk.set("type", "file")
            src = ET.Element("source", {"file": path})
            disk.insert(1 if disk.find("driver") is not None else 0, src)
        return ET.tostring(disk, encoding="unicode")
    raise BackendError(f"{root.findtext('name', '?')} has no CD-ROM drive {target}")


def volume_xml(
    name: str,
    capacity: int,
    fmt: str,
    allocation: int | None = None,
    backing: tuple[str, str] | None = None,
) -> str:
    """A new pool volume (bytes; ``allocation`` None: the pool's default, 0: sparse);
    ``backing`` = (path, format) makes a qcow2 overlay on it."""
    alloc = f"<allocation>{allocation}</allocation>" if allocation is not None else ""
    store = (
        f"<backingStore><path>{escape(backing[0])}</path>"
        f"<format type={quoteattr(backing[1])}/></backingStore>"
        if backing is not None
        else ""
    )
    return (
        f"<volume><name>{escape(name)}</name><capacity>{capacity}</capacity>{alloc}"
        f"<target><format type={quoteattr(fmt)}/></target>{store}</volume>"
    )


def dir_pool_xml(name: str, path: str) -> str:
    return (
        f"<pool type='dir'><name>{escape(name)}</name>"
        f"<target><path>{escape(path)}</path></target></pool>"
    )


def sniff_format(head: bytes) -> str:
    """The image format of a file's first bytes: qcow2, or raw (ISOs and everything else)."""
    return "qcow2" if head[:4] == b"QFI\xfb" else "raw"
