"""Bring guests into being on one host (issue 21): create, clone, delete with storage, edit,
edit the XML. Implements ``tui.core.ports.Provisioning``; every method blocks (libvirt calls):
the UI calls them through ``app.runner.submit``.

Everything goes through libvirt's API, so a ``qemu+ssh://`` host needs no shell: volumes are
made in the host's pools (``storageVolCreateXML``), files from this machine (a cloud image, the
cloud-init seed) are sent with ``virStorageVol.upload`` and a libvirt stream, a full copy of a
pool volume goes through ``download`` and ``upload`` streams (both with progress and cancel).

Nothing half-made: :class:`_Undo` records each thing a create or clone makes (volumes, the
definition) and removes them, newest first, when a later step fails or the operator cancels;
the error says what was undone.

The cloud-init seed: ``cloud-localds`` (cloud-image-utils, genisoimage underneath), measured
0.01-0.02 s for a 366 KiB ISO here, against a Python ISO writer (pycdlib: a new dependency,
not packaged for the venv). The seed is made on this machine and uploaded to the guest's pool.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt

from tui.adapters.libvirt import osinfo
from tui.adapters.libvirt.provision_xml import DiskPlan, default_pool_xml, domain_xml, volume_xml
from tui.model.backend import BackendError
from tui.model.jobs import ProgressFn, human_bytes, no_progress
from tui.model.provision import (
    FIRMWARE_UEFI,
    NET_AUTO,
    NET_NONE,
    NET_USER,
    SOURCE_CLOUD,
    SOURCE_IMPORT,
    SOURCE_ISO,
    CreateChoices,
    Created,
    DeletePlan,
    FieldProblem,
    GuestEdit,
    GuestSettings,
    GuestSpec,
    JobCancelled,
    OsChoice,
    OsDefaults,
    PoolChoice,
    SpecRefused,
    XmlDefineFailed,
    name_problem,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 20
KVMDECK_NS = "https://kvmdeck.invalid/xmlns/provision/1"
DEFAULT_POOL_PATH = "/var/lib/libvirt/images"


def _err(exc: libvirt.libvirtError) -> str:
    return exc.get_error_message() or str(exc)


# -- images on this machine -----------------------------------------------------------------
@dataclass(frozen=True)
class ImageInfo:
    path: str
    fmt: str
    virtual: int  # bytes
    size: int  # bytes on disk (what an upload sends)
    backing: str = ""


def image_info(path: str) -> ImageInfo:
    """``qemu-img info`` of a file here; BackendError when it is missing or not a disk image."""
    p = Path(path)
    if not p.exists():
        raise BackendError(f"{path} does not exist")
    if not p.is_file():
        raise BackendError(f"{path} is not a file")
    try:
        r = subprocess.run(
            ["qemu-img", "info", "--output=json", "-U", str(p)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError as exc:
        raise BackendError("qemu-img is missing here: install qemu-utils") from exc
    if r.returncode != 0:
        raise BackendError(f"{path} is not a disk image ({r.stderr.strip()[-200:]})")
    info = json.loads(r.stdout)
    fmt = str(info.get("format", ""))
    if fmt == "raw" and not _looks_bootable(p):
        raise BackendError(
            f"{path} is not a disk image: no boot sector, partition table or ISO 9660 header"
        )
    return ImageInfo(
        str(p),
        fmt,
        int(info.get("virtual-size", 0)),
        p.stat().st_size,
        str(info.get("backing-filename", "")),
    )


def _looks_bootable(p: Path) -> bool:
    try:
        with p.open("rb") as f:
            head = f.read(512)
            f.seek(0x8001)
            iso = f.read(5)
    except OSError:
        return False
    return (len(head) == 512 and head[510:512] == b"\x55\xaa") or iso == b"CD001"


# -- the cloud-init seed --------------------------------------------------------------------
def user_data(spec: GuestSpec) -> str:
    """``#cloud-config`` (JSON values: valid YAML, nothing to escape by hand)."""
    ci = spec.cloud_init
    host = ci.hostname or spec.name
    lines = [
        "#cloud-config",
        f"hostname: {json.dumps(host)}",
        "manage_etc_hosts: true",
    ]
    keys = [k.strip() for k in ci.ssh_keys if k.strip()]
    if ci.user:
        user: dict[str, object] = {
            "name": ci.user,
            "shell": "/bin/bash",
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "groups": ["sudo"],
            "lock_passwd": not ci.password,
        }
        if keys:
            user["ssh_authorized_keys"] = keys
        if ci.password:
            user["plain_text_passwd"] = ci.password
        lines.append(f"users: {json.dumps(['default', user])}")
    elif keys:
        lines.append(f"ssh_authorized_keys: {json.dumps(keys)}")
    if ci.password:
        lines.append("ssh_pwauth: true")
        if not ci.user:
            lines.append(f"password: {json.dumps(ci.password)}")
            lines.append("chpasswd: {expire: false}")
    return "\n".join(lines) + "\n"


def meta_data(spec: GuestSpec, uuid: str) -> str:
    host = spec.cloud_init.hostname or spec.name
    return f"instance-id: {json.dumps(uuid)}\nlocal-hostname: {json.dumps(host)}\n"


def make_seed(spec: GuestSpec, uuid: str, out: Path) -> None:
    """The NoCloud seed ISO (volume label ``cidata``) at ``out``, with ``cloud-localds``."""
    tool = shutil.which("cloud-localds")
    if tool is None:
        raise BackendError("cloud-localds is missing here: install cloud-image-utils")
    d = out.parent
    (d / "user-data").write_text(user_data(spec))
    (d / "meta-data").write_text(meta_data(spec, uuid))
    r = subprocess.run(
        [tool, str(out), str(d / "user-data"), str(d / "meta-data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0:
        raise BackendError(f"cloud-localds failed: {r.stderr.strip()[-300:]}")


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
                dom.undefineFlags(
                    libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                    | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                )
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


# -- the adapter ------------------------------------------------------------------------------
class LibvirtProvisioning:
    """Provisioning on one host, bound to its live connection by ``conn_of()``."""

    def __init__(self, conn_of: Callable[[], libvirt.virConnect | None], remote: bool) -> None:
        self._conn_of = conn_of
        self.remote = remote
        self._lock = threading.Lock()

    def _conn(self) -> libvirt.virConnect:
        conn = self._conn_of()
        if conn is None:
            raise BackendError("not connected", lost=True)
        return conn

    def _dom(self, uuid: str) -> libvirt.virDomain:
        try:
            return self._conn().lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            raise BackendError(f"the guest is gone ({_err(exc)})") from exc

    # -- what the form offers -------------------------------------------------------------
    def os_list(self) -> tuple[OsChoice, ...]:
        return osinfo.os_list()

    def os_defaults(self, short_id: str) -> OsDefaults:
        return osinfo.defaults(short_id)

    def choices(self) -> CreateChoices:
        conn = self._conn()
        try:
            pools = []
            for p in conn.listAllStoragePools(0):
                active = bool(p.isActive())
                avail = p.info()[3] if active else 0
                path = ""
                with contextlib.suppress(ET.ParseError, libvirt.libvirtError):
                    path = ET.fromstring(p.XMLDesc(0)).findtext("target/path") or ""
                pools.append(PoolChoice(p.name(), active, avail, path))
            nets = tuple((n.name(), bool(n.isActive())) for n in conn.listAllNetworks(0))
            info = conn.getInfo()
            names = tuple(d.name() for d in conn.listAllDomains(0))
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot read the host's pools and networks: {_err(exc)}") from exc
        return CreateChoices(
            tuple(sorted(pools, key=lambda p: (p.name != "default", p.name))),
            nets,
            host_memory_mib=int(info[1]),
            host_cpus=int(info[2]),
            uefi=self._has_uefi(conn),
            virt_types=self._virt_types(conn),
            guest_names=names,
            remote=self.remote,
        )

    @staticmethod
    def _virt_types(conn: libvirt.virConnect) -> tuple[str, ...]:
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

    @staticmethod
    def _has_uefi(conn: libvirt.virConnect) -> bool:
        try:
            xml = conn.getDomainCapabilities(None, "x86_64", "q35", None, 0)
        except libvirt.libvirtError:
            return False
        return "<value>efi</value>" in xml

    def ensure_default_pool(self) -> str:
        """Create, build, start and autostart the ``default`` directory pool at
        /var/lib/libvirt/images, as virt-manager does on first use."""
        conn = self._conn()
        try:
            pool = conn.storagePoolLookupByName("default")
        except libvirt.libvirtError:
            pool = None
        try:
            if pool is None:
                pool = conn.storagePoolDefineXML(default_pool_xml(DEFAULT_POOL_PATH), 0)
                pool.build(0)
                made = f"created the default pool at {DEFAULT_POOL_PATH}"
            else:
                made = "the default pool exists"
            if not pool.isActive():
                pool.create(0)
            pool.setAutostart(1)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot create the default pool: {_err(exc)}") from exc
        return f"{made}; it is active and starts with the host"

    # -- checks -----------------------------------------------------------------------------
    def check(self, spec: GuestSpec) -> list[FieldProblem]:
        """Every problem with ``spec``, each naming its field and the fix (blocks)."""
        conn = self._conn()
        problems: list[FieldProblem] = []
        why = name_problem(spec.name)
        if why:
            problems.append(FieldProblem("Name", why))
        else:
            with contextlib.suppress(libvirt.libvirtError):
                conn.lookupByName(spec.name)
                problems.append(
                    FieldProblem("Name", f"a guest named {spec.name} exists: choose another name")
                )
        info = conn.getInfo()
        host_mib, host_cpus = int(info[1]), int(info[2])
        defaults = osinfo.defaults(spec.os_id)
        if spec.os_id and defaults.short_id != spec.os_id:
            problems.append(
                FieldProblem("OS", f"osinfo knows no OS {spec.os_id!r}: pick one from the list")
            )
        mem = spec.memory_mib or min(defaults.memory_mib, host_mib // 2 or 512)
        if mem > host_mib:
            problems.append(
                FieldProblem(
                    "Memory",
                    f"{mem} MiB is more than the host's {host_mib} MiB: at most {host_mib}",
                )
            )
        elif mem < 16:
            problems.append(FieldProblem("Memory", "at least 16 MiB"))
        vcpus = spec.vcpus or min(defaults.vcpus, host_cpus)
        if vcpus < 1 or vcpus > host_cpus:
            problems.append(FieldProblem("vCPUs", f"from 1 to the host's {host_cpus}"))
        if spec.disk_format not in ("qcow2", "raw"):
            problems.append(FieldProblem("Format", "qcow2 or raw"))
        if spec.firmware == FIRMWARE_UEFI and not self._has_uefi(conn):
            problems.append(FieldProblem("Firmware", "no UEFI firmware (OVMF) on the host: BIOS"))
        if spec.virt_type and spec.virt_type not in self._virt_types(conn):
            problems.append(
                FieldProblem("Accel", f"the host offers {', '.join(self._virt_types(conn))}")
            )
        net = spec.network
        if net.startswith("network:"):
            nname = net.split(":", 1)[1]
            try:
                n = conn.networkLookupByName(nname)
                if not n.isActive():
                    problems.append(
                        FieldProblem(
                            "Network", f"network {nname} is inactive: start it or pick another"
                        )
                    )
            except libvirt.libvirtError:
                problems.append(FieldProblem("Network", f"there is no network {nname}"))
        elif net not in (NET_AUTO, NET_USER, NET_NONE) and not net.startswith("bridge:"):
            problems.append(FieldProblem("Network", "user, none, network:NAME or bridge:NAME"))
        pool = None
        try:
            pool = conn.storagePoolLookupByName(spec.pool)
        except libvirt.libvirtError:
            if spec.pool == "default":
                problems.append(
                    FieldProblem(
                        "Pool",
                        f"there is no default pool: create it at {DEFAULT_POOL_PATH} (Ctrl+D"
                        " in the form) or pick another pool",
                    )
                )
            else:
                problems.append(FieldProblem("Pool", f"there is no pool {spec.pool}"))
        if pool is not None and not pool.isActive():
            problems.append(
                FieldProblem("Pool", f"pool {spec.pool} is inactive: start it or pick another")
            )
            pool = None
        src_bytes = 0
        if spec.source in (SOURCE_CLOUD, SOURCE_IMPORT):
            if not spec.image:
                problems.append(FieldProblem("Image", "name the image: a path or POOL/VOLUME"))
            else:
                try:
                    src = self._source(conn, spec.image)
                    src_bytes = src.virtual
                except BackendError as exc:
                    problems.append(FieldProblem("Image", exc.message))
        if spec.source == SOURCE_ISO:
            if not spec.iso:
                problems.append(FieldProblem("ISO", "name the ISO: a path or POOL/VOLUME"))
            else:
                try:
                    self._source(conn, spec.iso, iso=True)
                except BackendError as exc:
                    problems.append(FieldProblem("ISO", exc.message))
        if pool is not None and spec.source != SOURCE_IMPORT:
            size = max(spec.disk_bytes or defaults.disk_bytes, src_bytes)
            avail = pool.info()[3]
            if size > avail:
                problems.append(
                    FieldProblem(
                        "Disk",
                        f"{human_bytes(size)} is more than pool {spec.pool}'s free"
                        f" {human_bytes(avail)}: make it smaller or pick another pool",
                    )
                )
            if spec.disk_bytes is not None and spec.disk_bytes < src_bytes:
                problems.append(
                    FieldProblem(
                        "Disk",
                        f"smaller than the image ({human_bytes(src_bytes)}): at least that",
                    )
                )
        return problems

    # -- sources: a pool volume or a file ---------------------------------------------------
    @dataclass(frozen=True)
    class _Source:
        path: str  # on the host (a volume) or here (a file to upload)
        fmt: str
        virtual: int
        size: int
        volume: libvirt.virStorageVol | None  # a volume on the host
        local: bool  # a file on this machine that is not a volume of the host

    def _source(self, conn: libvirt.virConnect, ref: str, iso: bool = False) -> _Source:
        """``POOL/VOLUME`` or a path: a volume of the host, else a file on this machine."""
        vol = None
        if not ref.startswith("/") and "/" in ref:
            pname, vname = ref.split("/", 1)
            try:
                vol = conn.storagePoolLookupByName(pname).storageVolLookupByName(vname)
            except libvirt.libvirtError as exc:
                raise BackendError(f"no volume {ref} on the host ({_err(exc)})") from exc
        elif not self.remote or not Path(ref).exists():
            with contextlib.suppress(libvirt.libvirtError):
                vol = conn.storageVolLookupByPath(ref)
        if vol is not None:
            try:
                _kind, capacity, allocation = vol.info()
                doc = ET.fromstring(vol.XMLDesc(0))
            except (libvirt.libvirtError, ET.ParseError) as exc:
                raise BackendError(f"cannot read volume {ref}: {exc}") from exc
            fmt = doc.find("target/format")
            f = fmt.get("type", "raw") if fmt is not None else "raw"
            if iso and f not in ("iso", "raw"):
                raise BackendError(f"{ref} is a {f} volume, not an ISO")
            if not iso and f == "iso":
                raise BackendError(f"{ref} is an ISO, not a disk image")
            if capacity <= 0:
                raise BackendError(f"{ref} is empty")
            return self._Source(vol.path(), f, capacity, allocation, vol, False)
        if not Path(ref).is_absolute():
            raise BackendError(f"{ref}: write an absolute path or POOL/VOLUME")
        info = image_info(ref)
        if iso and info.fmt != "raw":
            raise BackendError(f"{ref} is a {info.fmt} image, not an ISO")
        return self._Source(info.path, info.fmt, info.virtual, info.size, None, True)

    # -- create -----------------------------------------------------------------------------
    def create(self, spec: GuestSpec, progress: ProgressFn = no_progress) -> Created:
        problems = self.check(spec)
        if problems:
            raise SpecRefused(problems)
        conn = self._conn()
        defaults = osinfo.defaults(spec.os_id)
        info = conn.getInfo()
        host_mib, host_cpus = int(info[1]), int(info[2])
        memory = spec.memory_mib or min(defaults.memory_mib, max(512, host_mib // 2))
        vcpus = spec.vcpus or min(defaults.vcpus, host_cpus)
        disk_bytes = spec.disk_bytes or defaults.disk_bytes
        virt_type = spec.virt_type or self._virt_types(conn)[0]
        network = spec.network or self.choices_network(conn)
        pool = conn.storagePoolLookupByName(spec.pool)
        undo = _Undo(conn)
        import uuid as uuidlib

        uuid = str(uuidlib.uuid4())
        step = "preparing"
        try:
            disks: list[DiskPlan] = []
            iso_install = False
            if spec.source == SOURCE_IMPORT:
                src = self._source(conn, spec.image)
                if src.local:
                    step = f"uploading {src.path}"
                    vol = self._upload_new(pool, f"{spec.name}.{src.fmt}", src, undo, progress)
                    disks.append(DiskPlan(vol.path(), src.fmt, boot=1))
                else:
                    disks.append(DiskPlan(src.path, src.fmt, boot=1))
            elif spec.source == SOURCE_CLOUD:
                src = self._source(conn, spec.image)
                size = max(disk_bytes, src.virtual)
                if spec.linked:
                    backing_path, backing_fmt = src.path, src.fmt
                    if src.local and self.remote:
                        step = f"uploading the base image {src.path}"
                        base = self._upload_new(
                            pool, f"{spec.name}-base.{src.fmt}", src, undo, progress
                        )
                        backing_path = base.path()
                    step = "creating the overlay"
                    vol = self._create_vol(
                        pool,
                        volume_xml(
                            f"{spec.name}.qcow2", size, "qcow2", backing=(backing_path, backing_fmt)
                        ),
                        undo,
                    )
                    disks.append(DiskPlan(vol.path(), "qcow2", boot=1))
                else:
                    step = f"copying {src.path}"
                    if src.local:
                        vol = self._upload_new(pool, f"{spec.name}.{src.fmt}", src, undo, progress)
                    else:
                        vol = self._copy_volume(pool, f"{spec.name}.{src.fmt}", src, undo, progress)
                    if size > src.virtual:
                        step = "growing the disk"
                        vol.resize(size, 0)
                    disks.append(DiskPlan(vol.path(), src.fmt, boot=1))
                step = "making the cloud-init seed"
                with tempfile.TemporaryDirectory(prefix="kvmdeck-seed-") as tmp:
                    seed = Path(tmp) / "seed.iso"
                    make_seed(spec, uuid, seed)
                    st = seed.stat().st_size
                    seed_src = self._Source(str(seed), "raw", st, st, None, True)
                    step = "uploading the cloud-init seed"
                    svol = self._upload_new(
                        pool, f"{spec.name}-seed.iso", seed_src, undo, progress, fmt="raw"
                    )
                disks.append(DiskPlan(svol.path(), "raw", device="cdrom"))
            else:
                step = "creating the disk"
                vol = self._create_vol(
                    pool,
                    volume_xml(f"{spec.name}.{spec.disk_format}", disk_bytes, spec.disk_format),
                    undo,
                )
                if spec.source == SOURCE_ISO:
                    src = self._source(conn, spec.iso, iso=True)
                    iso_path = src.path
                    if src.local and self.remote:
                        step = f"uploading {src.path}"
                        ivol = self._upload_new(
                            pool, Path(src.path).name, src, undo, progress, fmt="raw"
                        )
                        iso_path = ivol.path()
                    disks.append(DiskPlan(iso_path, "raw", device="cdrom", boot=1))
                    disks.append(DiskPlan(vol.path(), spec.disk_format, boot=2))
                    iso_install = True
                else:
                    disks.append(DiskPlan(vol.path(), spec.disk_format, boot=1))
            step = "defining the guest"
            xml = domain_xml(
                name=spec.name,
                virt_type=virt_type,
                os=defaults,
                os_id_url=_os_url(spec.os_id),
                vcpus=vcpus,
                memory_mib=memory,
                disks=disks,
                network=network,
                firmware=spec.firmware,
                spice_ready=spec.spice_ready,
                uuid=uuid,
            )
            xml = _with_made(xml, undo.made())
            undo.domain = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
            progress("defined", 1, 1)
            if spec.start:
                step = "starting the guest"
                undo.domain.create()
        except JobCancelled as exc:
            undone = undo.rollback()
            raise JobCancelled(f"create {spec.name} cancelled while {step}; {undone}") from exc
        except (libvirt.libvirtError, BackendError, OSError) as exc:
            why = _err(exc) if isinstance(exc, libvirt.libvirtError) else str(exc)
            undone = undo.rollback()
            raise BackendError(f"create {spec.name} failed while {step}: {why}; {undone}") from exc
        made = undo.made()
        what = f"created {spec.name} ({vcpus} vCPUs, {memory} MiB, {virt_type})"
        if spec.start:
            what += " and started it"
        if iso_install and spec.start:
            what += ": open its console (v) for the install"
        return Created(spec.name, uuid, made, what, spec.start, iso_install)

    @staticmethod
    def choices_network(conn: libvirt.virConnect) -> str:
        with contextlib.suppress(libvirt.libvirtError):
            if conn.networkLookupByName("default").isActive():
                return "network:default"
        return NET_USER

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
        src: _Source,
        undo: _Undo,
        progress: ProgressFn,
        fmt: str | None = None,
    ) -> libvirt.virStorageVol:
        """A new volume holding the bytes of a file of this machine (a libvirt stream)."""
        f = fmt or src.fmt
        vol = self._create_vol(
            pool, volume_xml(name, max(src.size, 1), "raw" if f == "iso" else f), undo
        )
        conn = self._conn()
        stream = conn.newStream(0)
        stage = f"uploading {Path(src.path).name}"
        try:
            vol.upload(stream, 0, src.size, 0)
            sent = 0
            with open(src.path, "rb") as fh:
                while sent < src.size:
                    data = fh.read(CHUNK)
                    if not data:
                        break
                    _send(stream, data)
                    sent += len(data)
                    progress(stage, sent, src.size)
            stream.finish()
        except BaseException:
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
            raise
        return vol

    def _copy_volume(
        self,
        pool: libvirt.virStoragePool,
        name: str,
        src: _Source,
        undo: _Undo,
        progress: ProgressFn,
    ) -> libvirt.virStorageVol:
        """A full copy of a host volume through download and upload streams."""
        assert src.volume is not None
        conn = self._conn()
        total = src.volume.info()[1]
        src_size = _volume_bytes(src.volume)
        vol = self._create_vol(pool, volume_xml(name, total, src.fmt), undo)
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
                _send(up, data)
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

    # -- clone --------------------------------------------------------------------------------
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
                            f"{new_name}{suffix}.qcow2", capacity, "qcow2", backing=(path, sfmt)
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
            for log_el in root.findall("devices/serial/log"):
                log_el.set("file", log_el.get("file", "").replace(name, new_name))
            step = "defining the clone"
            new_xml = _with_made(ET.tostring(root, encoding="unicode"), undo.made())
            undo.domain = conn.defineXMLFlags(new_xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
            new_uuid = undo.domain.UUIDString()
        except JobCancelled as exc:
            undone = undo.rollback()
            raise JobCancelled(f"clone of {name} cancelled while {step}; {undone}") from exc
        except (libvirt.libvirtError, BackendError, OSError) as exc:
            why = _err(exc) if isinstance(exc, libvirt.libvirtError) else str(exc)
            undone = undo.rollback()
            raise BackendError(f"clone of {name} failed while {step}: {why}; {undone}") from exc
        kind = "linked clone" if linked else "clone"
        msg = f"{kind} {new_name} of {name} defined (new UUID and MACs)"
        if linked:
            msg += f"; its disks are overlays on {name}'s: do not start {name} while it is needed"
        return Created(new_name, new_uuid, undo.made(), msg)

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
        xml = volume_xml(name, capacity, fmt)
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

    # -- delete -------------------------------------------------------------------------------
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
        nvram = root.findtext("os/nvram") or ""
        try:
            snaps = tuple(s.getName() for s in dom.listAllSnapshots(0))
        except libvirt.libvirtError:
            snaps = ()
        return DeletePlan(
            dom.name(), uuid, bool(dom.isActive()), tuple(vols), tuple(other), nvram, snaps
        )

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
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            | getattr(libvirt, "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", 0)
        )
        try:
            dom.undefineFlags(flags)
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
    def xml(self, uuid: str) -> str:
        dom = self._dom(uuid)
        try:
            return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot read the guest's XML: {_err(exc)}") from exc

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


def _send(stream: libvirt.virStream, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = stream.send(view.tobytes())
        if n == -2:  # would block: not for a blocking stream, but be safe
            time.sleep(0.01)
            continue
        if n < 0:
            raise BackendError("the upload stream failed")
        view = view[n:]


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


__all__ = ["LibvirtProvisioning", "image_info", "make_seed", "meta_data", "user_data"]
