"""Delete a guest with its storage, edit its settings, edit its XML (the ``Provisioning``
family's half that works on an existing guest). Every method blocks."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET

import libvirt

from tui.adapters.libvirt.held import counted
from tui.adapters.libvirt.provision_base import (
    ProvisionBase,
    _err,
    _made_of,
    undefine,
)
from tui.model.backend import BackendError
from tui.model.provision import (
    DeletePlan,
    FieldProblem,
    GuestEdit,
    GuestSettings,
    SpecRefused,
    XmlDefineFailed,
    name_problem,
)


class GuestOps(ProvisionBase):
    # -- delete -------------------------------------------------------------------------------
    @counted
    def delete_plan(self, uuid: str) -> DeletePlan:
        conn = self._conn()
        dom = self._dom(uuid)
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        root = ET.fromstring(xml)
        made = set(_made_of(root))
        vols: list[str] = []
        other: list[str] = []
        users = _disk_users(conn, exclude=uuid)
        for disk in root.findall("devices/disk"):
            src = disk.find("source")
            path = (src.get("file") or src.get("dev") or "") if src is not None else ""
            if not path:
                continue
            is_cd = disk.get("device") in ("cdrom", "floppy")
            try:
                conn.storageVolLookupByPath(path)
                in_pool = True
            except libvirt.libvirtError:
                in_pool = False
            if not in_pool:
                other.append(path)
            elif path in users:
                other.append(f"{path} (also used by {', '.join(sorted(users[path]))})")
            elif is_cd and path not in made:
                other.append(path)
            else:
                vols.append(path)
        for path in _made_of(root):  # made for it but not a disk: a base image it uploaded
            if path in vols or path in users:
                continue
            with contextlib.suppress(libvirt.libvirtError):
                conn.storageVolLookupByPath(path)
                vols.append(path)
        nvram = root.findtext("os/nvram") or ""
        os_el = root.find("os")
        if not nvram and os_el is not None and os_el.get("firmware") == "efi":
            # firmware autoselection keeps the path out of the saved XML (libvirt 9)
            nvram = f"its UEFI variables (/var/lib/libvirt/qemu/nvram/{dom.name()}_VARS.fd)"
        try:
            snaps = tuple(s.getName() for s in dom.listAllSnapshots(0))
        except libvirt.libvirtError:
            snaps = ()
        return DeletePlan(
            dom.name(), uuid, bool(dom.isActive()), tuple(vols), tuple(other), nvram, snaps
        )

    @counted
    def delete(self, uuid: str) -> str:
        """Undefine the guest (NVRAM, snapshot metadata, managed save too) and delete the
        volumes :meth:`delete_plan` lists. Refused while it runs."""
        plan = self.delete_plan(uuid)
        if plan.active:
            raise BackendError(
                f"{plan.name} is running: shut it down (h) or force it off (X) first"
            )
        conn = self._conn()
        dom = self._dom(uuid)
        try:
            undefine(dom)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot delete {plan.name}: {_err(exc)}") from exc
        gone, kept = [], []
        for path in plan.volumes:
            try:
                conn.storageVolLookupByPath(path).delete(0)
                gone.append(path)
            except libvirt.libvirtError as exc:
                kept.append(f"{path} ({_err(exc)})")
        msg = f"deleted {plan.name}"
        if gone:
            msg += f" and {len(gone)} volume{'s' if len(gone) != 1 else ''}"
        if plan.snapshots:
            msg += f", {len(plan.snapshots)} snapshot(s)"
        if kept:
            msg += "; could NOT delete " + ", ".join(kept) + ": remove by hand"
        return msg

    # -- edit ---------------------------------------------------------------------------------
    @counted
    def settings(self, uuid: str) -> GuestSettings:
        dom = self._dom(uuid)
        try:
            root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            active = bool(dom.isActive())
            autostart = bool(dom.autostart())
            live_v = live_m = 0
            if active:
                info = dom.info()
                live_v, live_m = int(info[3]), int(info[2]) // 1024
        except (libvirt.libvirtError, ET.ParseError) as exc:
            raise BackendError(f"cannot read the guest's settings: {exc}") from exc
        vcpu = root.find("vcpu")
        max_v = int(vcpu.text or 1) if vcpu is not None else 1
        cur_v = int(vcpu.get("current", max_v)) if vcpu is not None else 1
        return GuestSettings(
            root.findtext("name") or "",
            uuid,
            active,
            cur_v,
            max_v,
            _mib(root.find("currentMemory")) or _mib(root.find("memory")),
            _mib(root.find("memory")),
            autostart,
            live_v,
            live_m,
        )

    @counted
    def edit(self, uuid: str, change: GuestEdit) -> str:
        """Apply ``change`` to the saved config, and live where libvirt allows it; the message
        lists what was done (and what only takes effect at the next start)."""
        dom = self._dom(uuid)
        cur = self.settings(uuid)
        done: list[str] = []
        later: list[str] = []
        cfg = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        live = libvirt.VIR_DOMAIN_AFFECT_LIVE
        try:
            if change.new_name is not None and change.new_name != cur.name:
                why = name_problem(change.new_name)
                if why:
                    raise SpecRefused([FieldProblem("Name", why)])
                if cur.active:
                    raise SpecRefused(
                        [FieldProblem("Name", f"{cur.name} is running: shut it down to rename it")]
                    )
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn().lookupByName(change.new_name)
                    raise SpecRefused(
                        [FieldProblem("Name", f"a guest named {change.new_name} exists")]
                    )
                dom.rename(change.new_name, 0)
                done.append(f"renamed to {change.new_name}")
            if change.vcpus is not None and change.vcpus != cur.vcpus:
                n = change.vcpus
                host_cpus = int(self._conn().getInfo()[2])
                if n < 1 or n > host_cpus:
                    raise SpecRefused([FieldProblem("vCPUs", f"from 1 to the host's {host_cpus}")])
                if n > cur.max_vcpus:
                    dom.setVcpusFlags(n, cfg | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
                dom.setVcpusFlags(n, cfg)
                done.append(f"{n} vCPUs saved")
                if cur.active:
                    if n <= cur.max_vcpus:
                        try:
                            dom.setVcpusFlags(n, live)
                            done.append("live too")
                        except libvirt.libvirtError as exc:
                            later.append(f"vCPUs at the next start ({_err(exc)})")
                    else:
                        later.append(
                            f"vCPUs at the next start (above the running maximum {cur.max_vcpus})"
                        )
            if change.memory_mib is not None and change.memory_mib != cur.memory_mib:
                m = change.memory_mib
                host_mib = int(self._conn().getInfo()[1])
                if m < 16 or m > host_mib:
                    raise SpecRefused(
                        [FieldProblem("Memory", f"from 16 to the host's {host_mib} MiB")]
                    )
                if m > cur.max_memory_mib:
                    dom.setMemoryFlags(m * 1024, cfg | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
                dom.setMemoryFlags(m * 1024, cfg)
                done.append(f"{m} MiB memory saved")
                if cur.active:
                    if m <= cur.max_memory_mib:
                        try:
                            dom.setMemoryFlags(m * 1024, live)
                            done.append("live too (balloon)")
                        except libvirt.libvirtError as exc:
                            later.append(f"memory at the next start ({_err(exc)})")
                    else:
                        later.append(
                            f"memory at the next start (above the running maximum"
                            f" {cur.max_memory_mib} MiB)"
                        )
            if change.autostart is not None and change.autostart != cur.autostart:
                dom.setAutostart(1 if change.autostart else 0)
                done.append("autostart on" if change.autostart else "autostart off")
        except libvirt.libvirtError as exc:
            so_far = f" (done before: {', '.join(done)})" if done else ""
            raise BackendError(f"edit of {cur.name} failed: {_err(exc)}{so_far}") from exc
        if not done:
            return f"{cur.name}: nothing changed"
        msg = f"{cur.name}: " + ", ".join(done)
        if later:
            msg += "; " + "; ".join(later)
        return msg

    # -- the XML in $EDITOR ------------------------------------------------------------------
    @counted
    def xml(self, uuid: str) -> str:
        dom = self._dom(uuid)
        try:
            return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot read the guest's XML: {_err(exc)}") from exc

    @counted
    def define_xml(self, uuid: str, new_xml: str, base_xml: str) -> str:
        """Define ``new_xml`` (libvirt validates it against its schema) if the saved config is
        still ``base_xml``. libvirt's refusal raises :class:`XmlDefineFailed`."""
        conn = self._conn()
        current = self.xml(uuid)
        if current != base_xml:
            raise BackendError(
                "the guest's saved config changed while you edited it: open the editor again"
            )
        try:
            root = ET.fromstring(new_xml)
        except ET.ParseError as exc:
            raise XmlDefineFailed(f"not well-formed XML: {exc}", new_xml) from exc
        new_uuid = root.findtext("uuid")
        if new_uuid is not None and new_uuid.strip().lower() != uuid.lower():
            raise XmlDefineFailed(
                "the UUID was changed: keep it (a new guest is made with clone)", new_xml
            )
        old_name = ET.fromstring(base_xml).findtext("name")
        if root.findtext("name") != old_name:
            raise XmlDefineFailed(
                f"the name was changed: keep {old_name} here (rename it with the edit dialog)",
                new_xml,
            )
        try:
            dom = conn.defineXMLFlags(new_xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except libvirt.libvirtError as exc:
            raise XmlDefineFailed(_err(exc), new_xml) from exc
        msg = f"saved the new config of {dom.name()}"
        if dom.isActive():
            msg += " (it takes effect at the next start)"
        return msg


def _mib(el: ET.Element | None) -> int:
    if el is None or not el.text:
        return 0
    value = int(el.text)
    unit = (el.get("unit") or "KiB").lower()
    factor = {
        "b": 1 / 1024,
        "bytes": 1 / 1024,
        "k": 1,
        "kib": 1,
        "kb": 1,
        "m": 1024,
        "mib": 1024,
        "mb": 1024,
        "g": 1 << 20,
        "gib": 1 << 20,
        "gb": 1 << 20,
    }.get(unit, 1)
    return int(value * factor) // 1024


def _disk_users(conn: libvirt.virConnect, exclude: str) -> dict[str, set[str]]:
    """path -> names of the other guests whose disks (or backing chains) use it."""
    users: dict[str, set[str]] = {}
    for dom in conn.listAllDomains(0):
        if dom.UUIDString() == exclude:
            continue
        try:
            root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        except (libvirt.libvirtError, ET.ParseError):
            continue
        for src in root.iter("source"):
            p = src.get("file")
            if p:
                users.setdefault(p, set()).add(dom.name())
        for disk in root.findall("devices/disk"):
            dsrc = disk.find("source")
            p = dsrc.get("file") if dsrc is not None else None
            if not p:
                continue
            with contextlib.suppress(libvirt.libvirtError, ET.ParseError):
                vol = conn.storageVolLookupByPath(p)
                b = ET.fromstring(vol.XMLDesc(0)).findtext("backingStore/path")
                if b:
                    users.setdefault(b, set()).add(dom.name())
    return users
