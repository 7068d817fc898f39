"""Clone a shut-off guest: new name, UUID and MACs; its disks copied on the host (full,
``createXMLFrom``: a backing chain is flattened) or qcow2 overlays on them (linked)."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET

import libvirt

from tui.adapters.libvirt.held import counted
from tui.adapters.libvirt.provision_base import (
    KVMDECK_NS,
    ProvisionBase,
    _Undo,
    _with_made,
    undone,
)
from tui.adapters.libvirt.storagexml import volume_xml
from tui.model.backend import BackendError
from tui.model.jobs import ProgressFn, no_progress
from tui.model.provision import (
    Created,
    FieldProblem,
    SpecRefused,
    name_problem,
)


class CloneOps(ProvisionBase):
    # -- clone --------------------------------------------------------------------------------
    @counted
    def clone(
        self, uuid: str, new_name: str, linked: bool, progress: ProgressFn = no_progress
    ) -> Created:
        conn = self._conn()
        dom = self._dom(uuid)
        name = dom.name()
        problems = []
        why = name_problem(new_name)
        if why:
            problems.append(FieldProblem("Name", why))
        else:
            with contextlib.suppress(libvirt.libvirtError):
                conn.lookupByName(new_name)
                problems.append(
                    FieldProblem("Name", f"a guest named {new_name} exists: choose another name")
                )
        if dom.isActive():
            problems.append(
                FieldProblem("Guest", f"{name} is running: shut it down (h) first, then clone")
            )
        if problems:
            raise SpecRefused(problems)
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        root = ET.fromstring(xml)
        undo = _Undo(conn)
        step = "reading the disks"
        try:
            disks = [
                d
                for d in root.findall("devices/disk")
                if d.get("device", "disk") == "disk" and d.find("readonly") is None
            ]
            for i, disk in enumerate(disks):
                source = disk.find("source")
                path = source.get("file", "") if source is not None else ""
                if not path:
                    continue
                try:
                    svol = conn.storageVolLookupByPath(path)
                except libvirt.libvirtError as exc:
                    raise BackendError(
                        f"disk {path} is not in a storage pool: kvmdeck clones pool volumes only"
                    ) from exc
                spool = svol.storagePoolLookupByVolume()
                sdoc = ET.fromstring(svol.XMLDesc(0))
                sfmt_el = sdoc.find("target/format")
                sfmt = sfmt_el.get("type", "raw") if sfmt_el is not None else "raw"
                capacity = svol.info()[1]
                suffix = "" if i == 0 else f"-{i}"
                if linked:
                    step = f"creating an overlay on {path}"
                    nvol = self._create_vol(
                        spool,
                        volume_xml(
                            f"{new_name}{suffix}.qcow2", capacity, "qcow2", 0, backing=(path, sfmt)
                        ),
                        undo,
                    )
                    fmt = "qcow2"
                else:
                    step = f"copying {path}"
                    nvol = self._clone_vol(
                        spool, svol, f"{new_name}{suffix}.{sfmt}", capacity, sfmt, undo, progress
                    )
                    fmt = sfmt
                assert source is not None
                source.set("file", nvol.path())
                drv = disk.find("driver")
                if drv is not None:
                    drv.set("type", fmt)
                bs = disk.find("backingStore")
                if bs is not None:
                    disk.remove(bs)
            root.find("name").text = new_name  # type: ignore[union-attr]
            u = root.find("uuid")
            if u is not None:
                root.remove(u)
            for iface in root.findall("devices/interface"):
                mac = iface.find("mac")
                if mac is not None:
                    iface.remove(mac)
            nv = root.find("os/nvram")
            if nv is not None:
                nv.text = None  # libvirt makes a new one from the template
                for a in list(nv.attrib):
                    if a not in ("template", "format"):
                        del nv.attrib[a]
            meta = root.find("metadata")
            if meta is not None:  # what kvmdeck made for the source is not the clone's
                for el in meta.findall(f"{{{KVMDECK_NS}}}provision"):
                    meta.remove(el)
            for log_el in root.findall("devices/serial/log"):
                log_el.set("file", log_el.get("file", "").replace(name, new_name))
            step = "defining the clone"
            new_xml = _with_made(ET.tostring(root, encoding="unicode"), undo.made())
            undo.domain = conn.defineXMLFlags(new_xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
            new_uuid = undo.domain.UUIDString()
        except (libvirt.libvirtError, BackendError, OSError) as exc:  # JobCancelled too
            raise undone(undo, f"clone of {name}", step, exc) from exc
        kind = "linked clone" if linked else "clone"
        msg = f"{kind} {new_name} of {name} defined (new UUID and MACs)"
        if linked:
            msg += f"; its disks are overlays on {name}'s: do not start {name} while it is needed"
        return Created(new_name, new_uuid, undo.made(), msg)
