"""Bring guests into being on one host (issue 21): create, clone, delete with storage, edit,
edit the XML. Implements ``tui.core.ports.Provisioning``; every method blocks (libvirt calls):
the UI calls them through ``app.runner.submit``.

Everything goes through libvirt's API, so a ``qemu+ssh://`` host needs no shell: volumes are
made in the host's pools (``storageVolCreateXML``), files from this machine (a cloud image, the
cloud-init seed) are sent with ``virStorageVol.upload`` and a libvirt stream, a full copy of a
pool volume goes through ``download`` and ``upload`` streams (both with progress and cancel).

Nothing half-made: :class:`_Undo` records each thing a create or clone makes (volumes, the
definition) and removes them, newest first, when a later step fails or the operator cancels;
the error says what was undone. The seed: :mod:`provision_seed` (why ``cloud-localds``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from tui.adapters.libvirt import osinfo
from tui.adapters.libvirt.held import counted
from tui.adapters.libvirt.provision_base import (
    DEFAULT_POOL_PATH,
    Source,
    _err,
    _os_url,
    _Undo,
    _with_made,
    default_disk,
    default_network,
    guest_cpu,
    has_uefi,
    start_created,
    undone,
    virt_types,
)
from tui.adapters.libvirt.provision_clone import CloneOps
from tui.adapters.libvirt.provision_edit import GuestOps
from tui.adapters.libvirt.provision_seed import (
    image_info,
    make_seed,
    meta_data,
    operator_keys,
    user_data,
)
from tui.adapters.libvirt.provision_xml import (
    CpuPlan,
    DiskPlan,
    domain_xml,
    random_mac,
)
from tui.adapters.libvirt.storage import make_dir_pool
from tui.adapters.libvirt.storagexml import volume_xml
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
    FieldProblem,
    GuestSpec,
    OsChoice,
    OsDefaults,
    SpecRefused,
    name_problem,
)

log = logging.getLogger(__name__)


class LibvirtProvisioning(GuestOps, CloneOps):
    """Provisioning on one host, bound to its live connection by ``conn_of()``."""

    # -- what the form offers -------------------------------------------------------------
    def os_list(self) -> tuple[OsChoice, ...]:
        return osinfo.os_list()

    def os_defaults(self, short_id: str) -> OsDefaults:
        return osinfo.defaults(short_id)

    def operator_keys(self) -> tuple[str, ...]:
        return operator_keys()

    @counted
    def choices(self) -> CreateChoices:
        """The host's facts for the create form; its pools and networks come from the
        storage and networks families (``CreateOffer``), as their screens list them."""
        conn = self._conn()
        try:
            info = conn.getInfo()
            names = tuple(d.name() for d in conn.listAllDomains(0))
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot read the host's figures and guests: {_err(exc)}") from exc
        return CreateChoices(
            host_memory_mib=int(info[1]),
            host_cpus=int(info[2]),
            uefi=has_uefi(conn),
            virt_types=virt_types(conn),
            guest_names=names,
            remote=self.remote,
        )

    @counted
    def ensure_default_pool(self) -> str:
        """Create, build, start and autostart the ``default`` directory pool at
        /var/lib/libvirt/images, as virt-manager does on first use (as the storage screen
        makes a directory pool: a step that fails removes the pool again)."""
        conn = self._conn()
        try:
            pool = conn.storagePoolLookupByName("default")
        except libvirt.libvirtError:
            make_dir_pool(conn, "default", DEFAULT_POOL_PATH)
            made = f"created the default pool at {DEFAULT_POOL_PATH}"
        else:
            made = "the default pool exists"
            try:
                if not pool.isActive():
                    pool.create(0)
                pool.setAutostart(1)
            except libvirt.libvirtError as exc:
                raise BackendError(f"cannot create the default pool: {_err(exc)}") from exc
        return f"{made}; it is active and starts with the host"

    # -- checks -----------------------------------------------------------------------------
    @counted
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
        if spec.firmware == FIRMWARE_UEFI and not has_uefi(conn):
            problems.append(FieldProblem("Firmware", "no UEFI firmware (OVMF) on the host: BIOS"))
        if spec.virt_type and spec.virt_type not in virt_types(conn):
            problems.append(FieldProblem("Accel", f"the host offers {', '.join(virt_types(conn))}"))
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
                        f"there is no default pool: create it at {DEFAULT_POOL_PATH} (Ctrl+B"
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
            size = max(spec.disk_bytes or default_disk(defaults.disk_bytes, pool), src_bytes)
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

    def _source(self, conn: libvirt.virConnect, ref: str, iso: bool = False) -> Source:
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
            return Source(vol.path(), f, capacity, allocation, vol, False)
        if not Path(ref).is_absolute():
            raise BackendError(f"{ref}: write an absolute path or POOL/VOLUME")
        info = image_info(ref)
        if iso and info.fmt != "raw":
            raise BackendError(f"{ref} is a {info.fmt} image, not an ISO")
        return Source(info.path, info.fmt, info.virtual, info.size, None, True)

    # -- create -----------------------------------------------------------------------------
    @counted
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
        disk_bytes = spec.disk_bytes or default_disk(
            defaults.disk_bytes, conn.storagePoolLookupByName(spec.pool)
        )
        virt_type = spec.virt_type or virt_types(conn)[0]
        cpu = guest_cpu(conn, virt_type)  # virt-install's default: nothing for TCG
        network = spec.network or default_network(conn)
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
                if src.local and self.remote:  # a file of this machine: into the host's pool
                    step = f"uploading {src.path}"
                    vol = self._upload_new(pool, f"{spec.name}.{src.fmt}", src, undo, progress)
                    disks.append(DiskPlan(vol.path(), src.fmt, boot=1))
                else:  # already on the host: used where it is, as virt-install --import does
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
                            f"{spec.name}.qcow2",
                            size,
                            "qcow2",
                            0,
                            backing=(backing_path, backing_fmt),
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
                    seed_src = Source(str(seed), "raw", st, st, None, True)
                    step = "uploading the cloud-init seed"
                    svol = self._upload_new(
                        pool, f"{spec.name}-seed.iso", seed_src, undo, progress, fmt="raw"
                    )
                disks.append(DiskPlan(svol.path(), "raw", device="cdrom"))
            else:
                step = "creating the disk"
                vol = self._create_vol(
                    pool,
                    volume_xml(f"{spec.name}.{spec.disk_format}", disk_bytes, spec.disk_format, 0),
                    undo,
                )
                if spec.source == SOURCE_ISO:
                    src = self._source(conn, spec.iso, iso=True)
                    iso_path = src.path
                    if src.local and self.remote:
                        step = f"uploading {src.path}"
                        ivol = self._upload_new(
                            pool,
                            f"{spec.name}-{Path(src.path).name}",
                            src,
                            undo,
                            progress,
                            fmt="raw",
                        )
                        iso_path = ivol.path()
                    disks.append(DiskPlan(iso_path, "raw", device="cdrom", boot=1))
                    disks.append(DiskPlan(vol.path(), spec.disk_format, boot=2))
                    iso_install = True
                else:
                    disks.append(DiskPlan(vol.path(), spec.disk_format, boot=1))
            step = "defining the guest"
            xml_of = functools.partial(
                domain_xml, name=spec.name, virt_type=virt_type, os=defaults,
                os_id_url=_os_url(spec.os_id), vcpus=vcpus, memory_mib=memory, disks=disks,
                network=network, firmware=spec.firmware, spice_ready=spec.spice_ready,
                uuid=uuid, mac=random_mac(),
            )  # fmt: skip

            def define(cpu: CpuPlan | None) -> libvirt.virDomain:
                xml = _with_made(xml_of(cpu=cpu), undo.made())
                return conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)

            undo.domain = define(cpu)
            progress("defined", 1, 1)
            cpu_note = cpu.label if cpu is not None else ""
            if spec.start:
                step = "starting the guest"
                cpu_note = start_created(undo, cpu, define)
        except (libvirt.libvirtError, BackendError, OSError) as exc:  # JobCancelled too
            raise undone(undo, f"create {spec.name}", step, exc) from exc
        made = undo.made()
        what = f"created {spec.name} ({vcpus} vCPUs, {memory} MiB, {virt_type}"
        what += f", {cpu_note})" if cpu_note else ")"
        if spec.start:
            what += " and started it"
        if iso_install and spec.start:
            what += ": open its console (v) for the install"
        return Created(spec.name, uuid, made, what, spec.start, iso_install)


__all__ = ["LibvirtProvisioning", "image_info", "make_seed", "meta_data", "user_data"]
