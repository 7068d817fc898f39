"""--demo only: CD-ROM media changed in running guests, which libvirt's test driver cannot
change in a running guest's XML (pure: no connection). Used by demo/storage.py (the storage
family's view of the live XML) and demo/host.py (the guest's detail)."""

from __future__ import annotations

import dataclasses
import threading
import xml.etree.ElementTree as ET

from tui.adapters.libvirt.storagexml import media_xml
from tui.model.domain import DomainInfo


class DemoMedia:
    """CD-ROM media changed in running demo guests: (uuid, target) -> path ("" = no medium).
    The test driver cannot change a running guest's XML; its saved config is redefined for
    real. A guest's entries go when it is seen shut off (its live XML is its config then)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, dict[str, str]] = {}

    def put(self, uuid: str, target: str, path: str | None) -> None:
        with self._lock:
            self._live.setdefault(uuid, {})[target] = path or ""

    def forget(self, uuid: str) -> None:
        with self._lock:
            self._live.pop(uuid, None)

    def of(self, uuid: str) -> dict[str, str]:
        with self._lock:
            return dict(self._live.get(uuid, {}))

    def apply_xml(self, uuid: str, xml: str) -> str:
        """A running guest's live domain XML with the media changed in the demo."""
        changes = self.of(uuid)
        return with_media(xml, changes) if changes else xml

    def apply_info(self, info: DomainInfo) -> DomainInfo:
        """A running guest's facts with the media changed in the demo (the detail's disks)."""
        changes = self.of(info.uuid)
        if not changes:
            return info
        disks = tuple(
            dataclasses.replace(d, source=changes[d.target])
            if d.device == "cdrom" and d.target in changes
            else d
            for d in info.disks
        )
        return dataclasses.replace(info, disks=disks)


def with_media(domain_xml: str, changes: dict[str, str]) -> str:
    """``domain_xml`` with each CD-ROM ``target`` of ``changes`` holding its path ("" none):
    the ``<disk>`` the real adapter sends (``media_xml``) put in place of the old one."""
    root = ET.fromstring(domain_xml)
    devices = root.find("devices")
    if devices is None:
        return domain_xml
    for i, disk in enumerate(list(devices)):
        t = disk.find("target")
        if disk.tag != "disk" or disk.get("device") != "cdrom" or t is None:
            continue
        target = t.get("dev", "")
        if target in changes:
            new = media_xml(domain_xml, target, changes[target] or None)
            devices.remove(disk)
            devices.insert(i, ET.fromstring(new))
    return ET.tostring(root, encoding="unicode")


__all__ = ["DemoMedia", "with_media"]
