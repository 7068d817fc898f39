"""What create, clone, delete and edit share: the connection of the moment, undo of what was
made, and volumes filled through libvirt streams (upload, download) with progress and cancel.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt

from tui.adapters.libvirt import osinfo
from tui.adapters.libvirt.held import Held, Using
from tui.adapters.libvirt.provision_xml import CpuPlan, default_cpu
from tui.adapters.libvirt.storagexml import volume_xml
from tui.adapters.libvirt.upload import send_all, send_file
from tui.model.backend import BackendError
from tui.model.jobs import ProgressFn
from tui.model.provision import (
    NET_USER,
    JobCancelled,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 20
KVMDECK_NS = "https://kvmdeck.invalid/xmlns/provision/1"
DEFAULT_POOL_PATH = "/var/lib/libvirt/images"
ET.register_namespace("kvmdeck", KVMDECK_NS)
ET.register_namespace("libosinfo", "http://libosinfo.org/xmlns/libvirt/domain/1.0")


def _err(exc: libvirt.libvirtError) -> str:
    return exc.get_error_message() or str(exc)


def undefine(dom: libvirt.virDomain) -> None:
    """Undefine with its NVRAM, snapshot and checkpoint metadata and managed save; a driver
    that refuses some of those flags (the test driver: NVRAM, checkpoints) gets the rest."""
    full = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        | getattr(libvirt, "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", 0)
    )
    try:
        dom.undefineFlags(full)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        dom.undefineFlags(
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        )


# -- undo -------------------------------------------------------------------------------------
@dataclass
class _Undo:
    """What a create or clone made so far; :meth:`rollback` removes it, newest first."""

    conn: libvirt.virConnect
    volumes: list[libvirt.virStorageVol] = field(default_factory=list)
    domain: libvirt.virDomain | None = None
    started: bool = False

    def made(self) -> tuple[str, ...]:
        out: list[str] = []
        for v in self.volumes:
            with contextlib.suppress(libvirt.libvirtError):
                out.append(v.path())
        return tuple(out)

    def rollback(self) -> str:
        done: list[str] = []
        failed: list[str] = []
        dom = self.domain
        if dom is not None:
            name = "?"
            with contextlib.suppress(libvirt.libvirtError):
                name = dom.name()
            try:
                if dom.isActive():
                    dom.destroy()
                undefine(dom)
                done.append(f"the definition of {name}")
            except libvirt.libvirtError as exc:
                failed.append(f"the definition of {name} ({_err(exc)})")
        for vol in reversed(self.volumes):
            label = vol.name()
            try:
                label = vol.path()
                vol.delete(0)
                done.append(f"volume {label}")
            except libvirt.libvirtError as exc:
                failed.append(f"volume {label} ({_err(exc)})")
        self.volumes.clear()
        self.domain = None
        parts = []
        if done:
            parts.append("removed " + ", ".join(done))
        if failed:
            parts.append("could NOT remove " + ", ".join(failed) + ": remove by hand")
        return "; ".join(parts) if parts else "nothing had been made"


def undone(undo: _Undo, what: str, step: str, exc: BaseException) -> BackendError:
    """The error a create or clone (``what``) raises when ``exc`` stopped it while ``step``:
    what it made is removed first (:meth:`_Undo.rollback`) and said. A cancel stays a
    :class:`JobCancelled`."""
    removed = undo.rollback()
    if isinstance(exc, JobCancelled):
        return JobCancelled(f"{what} cancelled while {step}; {removed}")
    why = _err(exc) if isinstance(exc, libvirt.libvirtError) else str(exc)
    return BackendError(f"{what} failed while {step}: {why}; {removed}")


@dataclass(frozen=True)
class Source:
    path: str  # on the host (a volume) or here (a file to upload)
    fmt: str
    virtual: int
    size: int
    volume: libvirt.virStorageVol | None  # a volume on the host
    local: bool  # a file on this machine that is not a volume of the host


class ProvisionBase:
    """The connection of the moment, and the volumes a create or clone makes (streams)."""

    def __init__(self, using: Using, remote: bool) -> None:
        self._held = Held(using)  # each public method holds the connection (@counted)
        self.remote = remote
        self._lock = threading.Lock()

    def _conn(self) -> libvirt.virConnect:
        return self._held.conn()

    def _dom(self, uuid: str) -> libvirt.virDomain:
        try:
            return self._conn().lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot find the guest: {_err(exc)}") from exc

    def _create_vol(
        self, pool: libvirt.virStoragePool, xml: str, undo: _Undo
    ) -> libvirt.virStorageVol:
        vol = pool.createXML(xml, 0)
        if vol is None:  # pragma: no cover (libvirt raises)
            raise BackendError("the pool made no volume")
        undo.volumes.append(vol)
        return vol

    def _upload_new(
        self,
        pool: libvirt.virStoragePool,
        name: str,
        src: Source,
        undo: _Undo,
        progress: ProgressFn,
        fmt: str | None = None,
    ) -> libvirt.virStorageVol:
        """A new volume holding the bytes of a file of this machine (a libvirt stream)."""
        f = fmt or src.fmt
        vol = self._create_vol(
            pool, volume_xml(name, max(src.size, 1), "raw" if f == "iso" else f, 0), undo
        )
        stage = f"uploading {Path(src.path).name}"
        send_file(
            self._conn(),
            vol,
            src.path,
            src.size,
            lambda done: progress(stage, done, src.size),
            CHUNK,
        )
        return vol

    def _copy_volume(
        self,
        pool: libvirt.virStoragePool,
        name: str,
        src: Source,
        undo: _Undo,
        progress: ProgressFn,
    ) -> libvirt.virStorageVol:
        """A full copy of a host volume through download and upload streams."""
        assert src.volume is not None
        conn = self._conn()
        total = src.volume.info()[1]
        src_size = _volume_bytes(src.volume)
        vol = self._create_vol(pool, volume_xml(name, total, src.fmt, 0), undo)
        down, up = conn.newStream(0), conn.newStream(0)
        stage = f"copying {src.volume.name()}"
        try:
            src.volume.download(down, 0, src_size, 0)
            vol.upload(up, 0, src_size, 0)
            done = 0
            while True:
                data = down.recv(CHUNK)
                if isinstance(data, int):  # -2: would block (not for a blocking stream)
                    if data == -2:
                        time.sleep(0.01)
                        continue
                    break
                if not data:
                    break
                send_all(up, data)
                done += len(data)
                progress(stage, done, src_size)
            down.finish()
            up.finish()
        except BaseException:
            for s in (down, up):
                with contextlib.suppress(libvirt.libvirtError):
                    s.abort()
            raise
        return vol

    def _clone_vol(
        self,
        pool: libvirt.virStoragePool,
        svol: libvirt.virStorageVol,
        name: str,
        capacity: int,
        fmt: str,
        undo: _Undo,
        progress: ProgressFn,
    ) -> libvirt.virStorageVol:
        """``createXMLFrom`` (libvirt copies on the host, a backing chain flattened), with
        progress read from the new volume's allocation; a cancel takes effect when libvirt's
        copy returns (libvirt cannot abort it), and the copy is then removed."""
        result: dict[str, object] = {}
        xml = volume_xml(name, capacity, fmt, 0)
        total = svol.info()[2] or capacity

        def work() -> None:
            try:
                result["vol"] = pool.createXMLFrom(xml, svol, 0)
            except libvirt.libvirtError as exc:
                result["error"] = exc

        t = threading.Thread(target=work, name=f"clone {name}", daemon=True)
        t.start()
        cancelled: JobCancelled | None = None
        stage = f"copying {svol.name()}"
        while t.is_alive():
            t.join(0.5)
            done = 0
            with contextlib.suppress(libvirt.libvirtError):
                pool.refresh(0)
                done = pool.storageVolLookupByName(name).info()[2]
            if cancelled is None:
                try:
                    progress(stage, min(done, total), total)
                except JobCancelled as exc:
                    cancelled = exc
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        vol = result["vol"]
        assert isinstance(vol, libvirt.virStorageVol)
        undo.volumes.append(vol)
        if cancelled is not None:
            raise cancelled
        progress(stage, total, total)
        return vol


def virt_types(conn: libvirt.virConnect) -> tuple[str, ...]:
    try:
        caps = ET.fromstring(conn.getCapabilities())
    except (libvirt.libvirtError, ET.ParseError):
        return ("qemu",)
    types: list[str] = []
    for guest in caps.findall("guest"):
        arch = guest.find("arch")
        if arch is None or arch.get("name") != "x86_64":
            continue
        for dom in arch.findall("domain"):
            t = dom.get("type", "")
            if t and t not in types:
                types.append(t)
    order = [t for t in ("kvm", "qemu") if t in types]
    return tuple(order) or ("qemu",)


def guest_cpu(conn: libvirt.virConnect, virt_type: str) -> CpuPlan | None:
    """virt-install's CPU default for a new guest of ``virt_type`` on this host
    (:func:`provision_xml.default_cpu`): nothing for TCG; for KVM, from the host's KVM
    domain capabilities (and its CPU model, for the last fallback). Nothing when the host
    will not say (the test driver has no domain capabilities)."""
    if virt_type != "kvm":
        return None
    try:
        host = ET.fromstring(conn.getCapabilities()).find("host/cpu")
        domcaps = conn.getDomainCapabilities(None, "x86_64", "q35", "kvm", 0)
    except (libvirt.libvirtError, ET.ParseError) as exc:
        log.info("no KVM domain capabilities (%s): the new guest gets QEMU's default CPU", exc)
        return None
    arch = host.findtext("arch", "") if host is not None else ""
    model = host.findtext("model", "") if host is not None else ""
    return default_cpu(virt_type, domcaps, arch, model)


def start_created(
    undo: _Undo, cpu: CpuPlan | None, define: Callable[[CpuPlan | None], libvirt.virDomain]
) -> str:
    """Start the guest a create just defined (``undo.domain``, with ``cpu``); returns what
    the message says of its CPU.

    Some hosts' KVM cannot run the mode virt-install picks (this nested one, kvm_pvm: QEMU
    fails to set MSR 0x10a and aborts, with host-passthrough and host-model alike). Rather
    than remove the guest, it is defined again by ``define(None)`` (no ``<cpu>``: QEMU's
    default model) and started; the note says why (``E`` changes the CPU later). Raises
    ``libvirtError`` or, when the second start fails too, ``BackendError`` naming both."""
    assert undo.domain is not None
    try:
        undo.domain.create()
        return cpu.label if cpu is not None else ""
    except libvirt.libvirtError as exc:
        if cpu is None:
            raise
        why = " ".join(_err(exc).split())  # QEMU's lines, on one
    tried = f"{cpu.label}, virt-install's default for KVM, did not start: {why}"
    log.info("%s; starting it with QEMU's default CPU model", tried)
    undo.domain = define(None)
    try:
        undo.domain.create()
    except libvirt.libvirtError as exc:
        raise BackendError(f"{_err(exc)} (with QEMU's default CPU model; before, {tried})") from exc
    return f"QEMU's default CPU model: {tried}"


def has_uefi(conn: libvirt.virConnect) -> bool:
    try:
        xml = conn.getDomainCapabilities(None, "x86_64", "q35", None, 0)
    except libvirt.libvirtError:
        return False
    return "<value>efi</value>" in xml


def default_network(conn: libvirt.virConnect) -> str:
    with contextlib.suppress(libvirt.libvirtError):
        if conn.networkLookupByName("default").isActive():
            return "network:default"
    return NET_USER


def default_disk(recommended: int, pool: libvirt.virStoragePool) -> int:
    """osinfo's recommendation, or half the pool's free space when that is less (at least
    1 GiB): a name-only create fits the pool it lands in."""
    try:
        free = int(pool.info()[3])
    except libvirt.libvirtError:
        return recommended
    if recommended <= free:
        return recommended
    return max(1 << 30, (free // 2) >> 30 << 30)


def _volume_bytes(vol: libvirt.virStorageVol) -> int:
    """The bytes a download of ``vol`` sends (its file's length: capacity for raw)."""
    _k, capacity, allocation = vol.info()
    try:
        doc = ET.fromstring(vol.XMLDesc(0))
        phys = doc.findtext("physical")
        if phys:
            return int(phys)
    except (ET.ParseError, libvirt.libvirtError):
        pass
    return max(capacity, allocation)


def _os_url(short_id: str) -> str:
    if not short_id:
        return ""
    entry = osinfo._index().get(short_id)
    return entry[0] if entry else ""


def _with_made(xml: str, made: tuple[str, ...]) -> str:
    """Record in the domain's metadata which volumes kvmdeck made for it (delete removes a
    CD-ROM medium, the cloud-init seed, only when it is one of them)."""
    if not made:
        return xml
    inner = "".join(f"<kvmdeck:volume>{escape(p)}</kvmdeck:volume>" for p in made)
    block = f'<kvmdeck:provision xmlns:kvmdeck="{KVMDECK_NS}">{inner}</kvmdeck:provision>'
    if "<metadata>" in xml:
        return xml.replace("<metadata>", f"<metadata>\n    {block}", 1)
    return re.sub(r"(<uuid>[^<]*</uuid>)", rf"\1\n  <metadata>{block}</metadata>", xml, count=1)


def _made_of(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{{{KVMDECK_NS}}}volume")]
