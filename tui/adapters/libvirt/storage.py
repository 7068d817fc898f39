"""Storage through libvirt (``tui.core.ports.StorageOps``): pools, volumes and the guests that
use them, volume create/resize/delete, pool start/stop/autostart, a new directory pool,
uploads through a libvirt stream, and CD-ROM media insert/eject.

Only libvirt's own APIs: it works the same on ``qemu+ssh://`` hosts (no shell on the remote).
Every method blocks: call it from a daemon thread (``app.runner.submit``). Errors are
:class:`BackendError` with a sentence that names the thing and the fix.

Who uses a volume: every guest's disk sources (``file``, ``dev``, or ``pool``+``volume``), read
from the live XML of running guests and the saved XML of every persistent one.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable

import libvirt

from tui.adapters.libvirt import named
from tui.adapters.libvirt.held import Held, Using, counted
from tui.adapters.libvirt.named import msg as _msg
from tui.adapters.libvirt.storagexml import (
    cdrom_drives,
    dir_pool_xml,
    disk_uses,
    media_xml,
    volume_xml,
)
from tui.model.backend import BackendError
from tui.model.storage import (
    POOL_STATES,
    VOLUME_FORMATS,
    CdromDrive,
    Pool,
    Volume,
    VolumeUse,
    human_size,
    name_problem,
)

POOL = named.Kind("storage pool", "pool", "storage pools")


def _text(el: ET.Element | None, path: str) -> str:
    found = el.find(path) if el is not None else None
    return (found.text or "").strip() if found is not None else ""


def room_for(p: libvirt.virStoragePool, pool: str, name: str, doing: str) -> int:
    """The bytes free in pool ``p`` for a new volume ``name``: a BackendError when the pool is
    stopped or the name taken there (``doing`` begins that message)."""
    if not p.isActive():
        raise BackendError(f"storage pool {pool} is not running: start it first (s)")
    problem = name_problem(name, p.listVolumes())
    if problem:
        raise BackendError(f"{doing}: {problem}")
    _state, _cap, _alloc, available = p.info()
    return int(available)


def make_dir_pool(conn: libvirt.virConnect, name: str, path: str) -> libvirt.virStoragePool:
    """Define directory pool ``name`` at ``path``, build it (makes the directory), start it
    and autostart it; a step that fails undoes the ones before (BackendError says so)."""
    try:
        p = conn.storagePoolDefineXML(dir_pool_xml(name, os.path.normpath(path)), 0)
    except libvirt.libvirtError as exc:
        raise BackendError(f"cannot define pool {name}: {_msg(exc)}") from exc
    step = "build"
    try:
        p.build(0)
        step = "start"
        p.create(0)
        step = "autostart"
        p.setAutostart(1)
    except libvirt.libvirtError as exc:
        try:
            if p.isActive():
                p.destroy()
            p.undefine()
            undone = "the pool was removed again"
        except libvirt.libvirtError as inner:
            undone = f"removing the half-made pool failed too: {_msg(inner)}"
        raise BackendError(f"cannot {step} pool {name} at {path}: {_msg(exc)}; {undone}") from exc
    return p


class LibvirtStorage:
    """StorageOps over one host's connection: each public method holds it through ``using``
    (BackendError when the host is down or closing) for its whole duration (held.py)."""

    def __init__(self, using: Using) -> None:
        self._held = Held(using)
        self._conn = self._held.conn

    # -- reading -----------------------------------------------------------------------------
    @counted
    def pools(self) -> tuple[Pool, ...]:
        conn = self._conn()
        return named.listed(POOL, lambda: conn.listAllStoragePools(0), self._pool)

    @staticmethod
    def _pool(p: libvirt.virStoragePool) -> Pool:
        state, capacity, allocation, available = p.info()
        root = ET.fromstring(p.XMLDesc(0))
        return Pool(
            name=p.name(),
            uuid=p.UUIDString(),
            kind=root.get("type", ""),
            state=POOL_STATES.get(state, str(state)),
            autostart=bool(p.autostart()),
            persistent=bool(p.isPersistent()),
            capacity=capacity,
            allocation=allocation,
            available=available,
            path=_text(root, "target/path"),
        )

    def _uses(self, conn: libvirt.virConnect) -> dict[str, list[VolumeUse]]:
        uses: dict[str, list[VolumeUse]] = {}
        for dom in conn.listAllDomains(0):
            try:
                name, uuid, running = dom.name(), dom.UUIDString(), bool(dom.isActive())
                xmls = [dom.XMLDesc(0)]
                if running and dom.isPersistent():
                    xmls.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            except libvirt.libvirtError:
                continue  # gone meanwhile
            seen: set[tuple[str, str]] = set()
            for xml in xmls:
                for key, use in disk_uses(name, uuid, running, xml):
                    if (key, use.target) not in seen:
                        seen.add((key, use.target))
                        uses.setdefault(key, []).append(use)
        return uses

    def _pool_named(self, conn: libvirt.virConnect, pool: str) -> libvirt.virStoragePool:
        return named.lookup(POOL, conn.storagePoolLookupByName, pool)

    @counted
    def volumes(self, pool: str) -> tuple[Volume, ...]:
        conn = self._conn()
        p = self._pool_named(conn, pool)
        try:
            if not p.isActive():
                return ()
            vols = p.listAllVolumes(0)
            uses = self._uses(conn)
            out = []
            for v in vols:
                try:
                    out.append(self._volume(pool, v, uses))
                except libvirt.libvirtError:
                    continue
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot list the volumes of {pool}: {_msg(exc)}") from exc
        return tuple(sorted(out, key=lambda v: v.name))

    @staticmethod
    def _volume(pool: str, v: libvirt.virStorageVol, uses: dict[str, list[VolumeUse]]) -> Volume:
        kind_no, capacity, allocation = v.info()
        root = ET.fromstring(v.XMLDesc(0))
        path = v.path()
        fmt = ""
        found = root.find("target/format")
        if found is not None:
            fmt = found.get("type", "")
        users = uses.get(os.path.normpath(path), []) + uses.get(f"{pool}/{v.name()}", [])
        users.sort(key=lambda u: (u.guest.lower(), u.target))  # not libvirt's domain order
        return Volume(
            pool=pool,
            name=v.name(),
            path=path,
            kind=root.get("type", str(kind_no)),
            capacity=capacity,
            allocation=allocation,
            format=fmt,
            users=tuple(users),
        )

    def _vol(self, conn: libvirt.virConnect, pool: str, name: str) -> libvirt.virStorageVol:
        p = self._pool_named(conn, pool)
        try:
            return p.storageVolLookupByName(name)
        except libvirt.libvirtError as exc:
            raise BackendError(f"volume {name} not found in pool {pool}: {_msg(exc)}") from exc

    # -- volumes -----------------------------------------------------------------------------
    @counted
    def create_volume(self, pool: str, name: str, capacity: int, fmt: str) -> str:
        if fmt not in VOLUME_FORMATS:
            raise BackendError(
                f"format {fmt!r} is not offered: choose {' or '.join(VOLUME_FORMATS)}"
            )
        conn = self._conn()
        p = self._pool_named(conn, pool)
        try:
            available = room_for(p, pool, name, f"new volume in {pool}")
            # qcow2 grows as written; a raw file is sparse where the pool allows: both can be
            # larger than the free space, but say so before libvirt tries.
            alloc = 0
            if fmt == "raw" and capacity > available:
                raise BackendError(
                    f"volume {name} ({human_size(capacity)}) is larger than the"
                    f" {human_size(available)} free in pool {pool}: choose a smaller size"
                )
            p.createXML(volume_xml(name, capacity, fmt, alloc), 0)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot create volume {name} in {pool}: {_msg(exc)}") from exc
        return f"volume {name} created in {pool} ({human_size(capacity)}, {fmt})"

    @counted
    def resize_volume(self, pool: str, name: str, capacity: int) -> str:
        conn = self._conn()
        v = self._vol(conn, pool, name)
        try:
            vol = self._volume(pool, v, self._uses(conn))
            running = [u.describe() for u in vol.users if u.running]
            if running:
                raise BackendError(
                    f"volume {name} is in use by running guest {', '.join(running)}:"
                    " shut it down first"
                )
            if capacity < vol.capacity:
                raise BackendError(
                    f"volume {name} is {human_size(vol.capacity)}: shrinking loses data, so"
                    " kvmdeck only grows volumes; choose a larger size"
                )
            if capacity == vol.capacity:
                return f"volume {name} is already {human_size(capacity)}"
            v.resize(capacity, 0)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot resize volume {name}: {_msg(exc)}") from exc
        return f"volume {name} in {pool} resized to {human_size(capacity)}"

    @counted
    def delete_volume(self, pool: str, name: str) -> str:
        conn = self._conn()
        v = self._vol(conn, pool, name)
        try:
            vol = self._volume(pool, v, self._uses(conn))
            if vol.users:
                raise BackendError(
                    f"volume {name} is used by {vol.users_text()}: remove the disk from the"
                    " guest first (or delete the guest with its storage)"
                )
            v.delete(0)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot delete volume {name}: {_msg(exc)}") from exc
        return f"volume {name} deleted from {pool}"

    # -- pools -------------------------------------------------------------------------------
    @counted
    def start_pool(self, pool: str) -> str:
        return named.start(POOL, self._pool_named(self._conn(), pool), pool)

    @counted
    def stop_pool(self, pool: str) -> str:
        conn = self._conn()
        p = self._pool_named(conn, pool)

        def unused() -> None:  # refused while running guests have disks in it
            vols = {os.path.normpath(v.path()) for v in p.listAllVolumes(0)}
            vols |= {f"{pool}/{v.name()}" for v in p.listAllVolumes(0)}
            running = sorted(
                {
                    u.describe()
                    for key, us in self._uses(conn).items()
                    if key in vols
                    for u in us
                    if u.running
                }
            )
            if running:
                raise BackendError(
                    f"storage pool {pool} holds disks of running guests ({', '.join(running)}):"
                    " shut them down first"
                )

        return named.stop(POOL, p, pool, unused)

    @counted
    def set_pool_autostart(self, pool: str, on: bool) -> str:
        return named.set_autostart(POOL, self._pool_named(self._conn(), pool), pool, on)

    @counted
    def create_dir_pool(self, name: str, path: str) -> str:
        """Define a directory pool, build it (makes the directory), start it and autostart it;
        a step that fails undoes the ones before."""
        if not path.startswith("/"):
            raise BackendError(
                f"pool {name}: the directory must be an absolute path, e.g. /var/lib/libvirt/{name}"
            )
        conn = self._conn()
        named.free_name(
            POOL, lambda: conn.listDefinedStoragePools() + conn.listStoragePools(), name
        )
        make_dir_pool(conn, name, path)
        return f"storage pool {name} created at {path} (running, starts with the host)"

    @counted
    def upload(
        self,
        pool: str,
        name: str,
        source: str,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> str:
        """See :func:`tui.adapters.libvirt.upload.upload`."""
        from tui.adapters.libvirt.upload import upload

        conn = self._conn()
        return upload(conn, self._pool_named(conn, pool), pool, name, source, progress, cancelled)

    # -- CD-ROM media ------------------------------------------------------------------------
    @counted
    def cdroms(self) -> tuple[CdromDrive, ...]:
        """Every guest's CD-ROM drives, running guests first."""
        conn = self._conn()
        out: list[CdromDrive] = []
        try:
            doms = conn.listAllDomains(0)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot list the guests: {_msg(exc)}") from exc
        for dom in doms:
            try:
                out += cdrom_drives(
                    dom.name(), dom.UUIDString(), bool(dom.isActive()), dom.XMLDesc(0)
                )
            except libvirt.libvirtError:
                continue
        return tuple(sorted(out, key=lambda d: (not d.running, d.guest, d.target)))

    def _change_media(self, uuid: str, target: str, path: str | None) -> tuple[str, bool]:
        conn = self._conn()
        try:
            dom = conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            raise BackendError(f"guest not found: {_msg(exc)}") from exc
        try:
            name, running = dom.name(), bool(dom.isActive())
            flags = 0
            if running:
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            if dom.isPersistent():
                flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
            # The live drive when running (the config's is the same device), else the saved one.
            xml = media_xml(dom.XMLDesc(0), target, path)
            dom.updateDeviceFlags(xml, flags)
        except libvirt.libvirtError as exc:
            doing = f"insert {path} into" if path else "eject the medium of"
            raise BackendError(f"cannot {doing} {target}: {_msg(exc)}") from exc
        return name, running

    @counted
    def insert_media(self, uuid: str, target: str, path: str) -> str:
        name, running = self._change_media(uuid, target, path)
        return f"{os.path.basename(path)} inserted in {name} {target}" + (
            "" if running else " (saved config)"
        )

    @counted
    def eject_media(self, uuid: str, target: str) -> str:
        name, running = self._change_media(uuid, target, None)
        return f"medium ejected from {name} {target}" + ("" if running else " (saved config)")
