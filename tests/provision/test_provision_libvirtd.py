"""Create, clone, delete, edit and XML edit through the adapter, against the real libvirtd
(qemu:///system). No guest OS boots here (that is test_provision_boot.py): a guest that
starts sits in SeaBIOS; its disks, definition and rollback are what is checked."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from tests.provision.conftest import leftovers
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.provision import LibvirtProvisioning
from tui.core.jobs import Job
from tui.model.backend import BackendError
from tui.model.provision import (
    CloudInit,
    GuestEdit,
    GuestSpec,
    JobCancelled,
    SpecRefused,
    XmlDefineFailed,
)


@pytest.fixture()
def prov(prov_conn: libvirt.virConnect) -> LibvirtProvisioning:
    return LibvirtProvisioning(fixed(prov_conn), remote=False)


def volumes_of(conn: libvirt.virConnect, uuid: str) -> list[str]:
    root = ET.fromstring(conn.lookupByUUIDString(uuid).XMLDesc(0))
    return [s.get("file", "") for s in root.findall("devices/disk/source")]


def test_name_only_create_is_accepted_and_starts(prov, prov_conn, prefix):
    """Only a name: osinfo's generic defaults, the default pool, automatic network; libvirt
    accepts it and it starts (on this host too)."""
    name = f"{prefix}x"
    got = prov.create(GuestSpec(name=name))
    dom = prov_conn.lookupByName(name)
    assert dom.isActive()
    assert got.started and got.uuid == dom.UUIDString()
    assert "created" in got.message and name in got.message
    xml = dom.XMLDesc(0)
    # SPICE-ready by default: agent channel, usbredir, sound, qemu-xhci
    assert "com.redhat.spice.0" in xml and "<redirdev" in xml and "<sound" in xml
    assert "qemu-xhci" in xml
    plan = prov.delete_plan(got.uuid)
    assert plan.active and plan.volumes == got.made
    with pytest.raises(BackendError, match="running"):
        prov.delete(got.uuid)
    dom.destroy()
    msg = prov.delete(got.uuid)
    assert "deleted" in msg and "1 volume" in msg
    assert leftovers(prov_conn, prefix) == []


def test_bad_input_names_the_field_and_the_fix(prov, prov_conn, prefix, tmp_path):
    taken = f"{prefix}taken"
    prov.create(GuestSpec(name=taken, start=False, disk_bytes=1 << 20))
    notimg = tmp_path / "notes.txt"
    notimg.write_text("not a disk\n")
    pool_xml = (
        f"<pool type='dir'><name>{prefix}off</name><target><path>{tmp_path}</path></target></pool>"
    )
    prov_conn.storagePoolDefineXML(pool_xml, 0)  # defined, not started
    host_mib = prov_conn.getInfo()[1]
    free = prov_conn.storagePoolLookupByName("default").info()[3]
    cases = [
        (GuestSpec(name="a/b"), "Name", "cannot hold '/'"),
        (GuestSpec(name=taken), "Name", "exists"),
        (GuestSpec(name=f"{prefix}m", memory_mib=host_mib + 1), "Memory", "more than the host"),
        (GuestSpec(name=f"{prefix}d", disk_bytes=free + (1 << 30)), "Disk", "free"),
        (
            GuestSpec(name=f"{prefix}i", source="cloud", image=str(tmp_path / "nope.qcow2")),
            "Image",
            "does not exist",
        ),
        (
            GuestSpec(name=f"{prefix}j", source="cloud", image=str(notimg)),
            "Image",
            "not a disk image",
        ),
        (GuestSpec(name=f"{prefix}p", pool=f"{prefix}off"), "Pool", "inactive"),
    ]
    for spec, fld, words in cases:
        problems = prov.check(spec)
        assert any(p.field == fld and words in p.message for p in problems), (spec, problems)
        with pytest.raises(SpecRefused):
            prov.create(spec)
    assert leftovers(prov_conn, prefix) == [
        f"{prefix}taken",
        *volumes_of(prov_conn, prov_conn.lookupByName(taken).UUIDString()),
    ]


def test_a_create_failing_late_removes_what_it_made(prov, prov_conn, prefix, cloud_image):
    """A linked cloud image with a seed, on a bridge that does not exist: volumes, seed and
    definition are made, the start fails; everything is removed and the message says so."""
    name = f"{prefix}late"
    spec = GuestSpec(
        name=name,
        source="cloud",
        image=str(cloud_image),
        network="bridge:kvmdprovnobr",
        virt_type="qemu",
        memory_mib=256,
        vcpus=1,
        cloud_init=CloudInit(user="provision"),
    )
    assert prov.check(spec) == []
    with pytest.raises(BackendError) as err:
        prov.create(spec)
    msg = err.value.message
    assert "starting the guest" in msg and "removed the definition" in msg
    assert f"{name}.qcow2" in msg and f"{name}-seed.iso" in msg
    assert leftovers(prov_conn, prefix) == []


def test_disk_larger_than_the_pool_makes_nothing(prov, prov_conn, prefix):
    free = prov_conn.storagePoolLookupByName("default").info()[3]
    with pytest.raises(SpecRefused) as err:
        prov.create(GuestSpec(name=f"{prefix}big", disk_bytes=free * 2))
    assert "Disk:" in err.value.message and "pick another pool" in err.value.message
    assert leftovers(prov_conn, prefix) == []


def test_full_copy_reports_progress_and_cancel_removes_it(prov, prov_conn, prefix, cloud_image):
    """A full copy of the image is an upload through a libvirt stream: progress with bytes,
    rate and time left; a cancel removes the half-made volume."""
    name = f"{prefix}copy"
    seen: list[str] = []
    job: Job[object] | None = None

    def work(progress):  # type: ignore[no-untyped-def]
        return prov.create(
            GuestSpec(
                name=name,
                source="cloud",
                image=str(cloud_image),
                linked=False,
                virt_type="qemu",
                start=False,
            ),
            progress,
        )

    job = Job(f"create {name}", work)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            p = job.progress()
            if p.done > 0:
                seen.append(p.text())
                if p.done > 8 << 20:
                    job.cancel()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        with pytest.raises(JobCancelled) as err:
            job.run()
    finally:
        stop.set()
        t.join()
    assert "cancelled" in err.value.message and "removed volume" in err.value.message
    assert any("MiB of" in s and "/s" in s for s in seen), seen
    assert leftovers(prov_conn, prefix) == []


def test_clone_full_and_linked_then_delete(prov, prov_conn, prefix):
    src = prov.create(
        GuestSpec(name=f"{prefix}src", start=False, disk_bytes=64 << 20, network="user")
    )
    with pytest.raises(SpecRefused, match="exists"):
        prov.clone(src.uuid, f"{prefix}src", linked=False)
    full = prov.clone(src.uuid, f"{prefix}full", linked=False)
    linked = prov.clone(src.uuid, f"{prefix}lnk", linked=True)
    src_xml = prov_conn.lookupByUUIDString(src.uuid).XMLDesc(0)
    for c in (full, linked):
        assert c.uuid != src.uuid
        xml = prov_conn.lookupByUUIDString(c.uuid).XMLDesc(0)
        mac = ET.fromstring(xml).find("devices/interface/mac")
        src_mac = ET.fromstring(src_xml).find("devices/interface/mac")
        assert mac is not None and src_mac is not None
        assert mac.get("address") != src_mac.get("address")
        assert volumes_of(prov_conn, c.uuid)[0] != volumes_of(prov_conn, src.uuid)[0]
    lvol = prov_conn.storageVolLookupByPath(volumes_of(prov_conn, linked.uuid)[0])
    assert (
        ET.fromstring(lvol.XMLDesc(0)).findtext("backingStore/path")
        == volumes_of(prov_conn, src.uuid)[0]
    )
    # the source's disk backs the linked clone: deleting the source keeps it, and says so
    plan = prov.delete_plan(src.uuid)
    assert plan.volumes == () and "also used by" in plan.other_disks[0]
    for c in (linked, full):
        prov.delete(c.uuid)
    assert "1 volume" in prov.delete(src.uuid)
    assert leftovers(prov_conn, prefix) == []


def test_edit_vcpus_memory_autostart_rename(prov, prov_conn, prefix):
    g = prov.create(
        GuestSpec(
            name=f"{prefix}ed",
            start=False,
            disk_bytes=1 << 20,
            vcpus=1,
            memory_mib=256,
            network="none",
            # TCG: started below by hand, and a KVM guest gets virt-install's host-passthrough,
            # which this host's kvm_pvm cannot run (test_provision_cpu.py)
            virt_type="qemu",
        )
    )
    msg = prov.edit(g.uuid, GuestEdit(vcpus=2, memory_mib=384, autostart=True))
    assert "2 vCPUs saved" in msg and "384 MiB memory saved" in msg and "autostart on" in msg
    s = prov.settings(g.uuid)
    assert (s.vcpus, s.memory_mib, s.autostart) == (2, 384, True)
    with pytest.raises(SpecRefused, match="vCPUs"):
        prov.edit(g.uuid, GuestEdit(vcpus=prov_conn.getInfo()[2] + 1))
    msg = prov.edit(g.uuid, GuestEdit(new_name=f"{prefix}ed2", autostart=False))
    assert "renamed" in msg
    assert prov_conn.lookupByUUIDString(g.uuid).name() == f"{prefix}ed2"
    # running: memory below the maximum is set live too (balloon), the saved config as well
    dom = prov_conn.lookupByUUIDString(g.uuid)
    dom.create()
    try:
        msg = prov.edit(g.uuid, GuestEdit(memory_mib=320))
        assert "320 MiB memory saved" in msg and "live too" in msg
        with pytest.raises(SpecRefused, match="running"):
            prov.edit(g.uuid, GuestEdit(new_name=f"{prefix}ed3"))
    finally:
        dom.destroy()


def test_xml_edit_invalid_then_valid(prov, prov_conn, prefix):
    g = prov.create(GuestSpec(name=f"{prefix}xml", start=False, disk_bytes=1 << 20, network="none"))
    base = prov.xml(g.uuid)
    bad = base.replace("<vcpu placement='static'>", "<vcpu placement='nowhere'>")
    assert bad != base
    with pytest.raises(XmlDefineFailed) as err:
        prov.define_xml(g.uuid, bad, base)
    assert err.value.xml == bad and err.value.error
    good = base.replace("</devices>", "<watchdog model='i6300esb' action='reset'/></devices>")
    msg = prov.define_xml(g.uuid, good, base)
    assert "saved" in msg
    assert "i6300esb" in prov.xml(g.uuid)
    with pytest.raises(BackendError, match="changed while you edited"):
        prov.define_xml(g.uuid, good, base)


def test_seed_user_data_carries_the_key(tmp_path: Path):
    from tui.adapters.libvirt.provision import make_seed, user_data

    spec = GuestSpec(
        name="g",
        cloud_init=CloudInit(hostname="h1", user="ops", ssh_keys=("ssh-ed25519 AAAA x@y",)),
    )
    ud = user_data(spec)
    assert ud.startswith("#cloud-config\n") and '"ssh-ed25519 AAAA x@y"' in ud and "h1" in ud
    make_seed(spec, "u-1", tmp_path / "seed.iso")
    head = (tmp_path / "seed.iso").read_bytes()[0x8000:0x8100]
    assert b"CD001" in head and b"cidata" in head.lower()


def test_uefi_guest_delete_names_and_removes_its_nvram(prov, prov_conn, prefix):
    import glob

    if not prov.choices().uefi:
        from testbed import bed

        why = "no UEFI firmware (OVMF) on this host: install ovmf"
        pytest.fail(f"CI=true and {why}") if bed.in_ci() else pytest.skip(why)
    g = prov.create(
        GuestSpec(
            name=f"{prefix}efi",
            firmware="uefi",
            disk_bytes=1 << 20,
            memory_mib=256,
            network="none",
            virt_type="qemu",
        )
    )
    dom = prov_conn.lookupByUUIDString(g.uuid)
    assert "firmware='efi'" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    dom.destroy()
    vars_files = glob.glob(f"/var/lib/libvirt/qemu/nvram/{prefix}efi_VARS.fd")
    assert vars_files  # libvirt made it at the first start
    assert "UEFI variables" in prov.delete_plan(g.uuid).nvram
    prov.delete(g.uuid)
    assert not glob.glob(f"/var/lib/libvirt/qemu/nvram/{prefix}efi_VARS.fd")


def test_import_uses_the_disk_in_place_and_delete_keeps_it(prov, prov_conn, prefix, tmp_path):
    """Import on the local host: the file is the guest's disk where it is (no copy); it is not
    a pool volume kvmdeck made, so delete leaves it."""
    import os
    import subprocess

    d = tmp_path / "imp"
    d.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(d, 0o755)
    disk = d / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "32M"], check=True)
    g = prov.create(
        GuestSpec(
            name=f"{prefix}imp",
            source="import",
            image=str(disk),
            start=False,
            network="none",
            memory_mib=128,
        )
    )
    assert g.made == ()
    assert str(disk) in prov_conn.lookupByUUIDString(g.uuid).XMLDesc(0)
    plan = prov.delete_plan(g.uuid)
    assert plan.volumes == () and any(str(disk) in o for o in plan.other_disks)
    prov.delete(g.uuid)
    assert disk.exists()


def test_an_upload_whose_file_ends_early_fails_and_removes_what_it_made(
    prov_conn, prefix, tmp_path
):
    """Importing a file of this machine to a remote host uploads it into a new volume. When
    the file ends before the bytes it had (it shrank meanwhile), the create fails naming it and
    removes the volume, rather than define a guest on a short disk."""
    path = tmp_path / "shrinks.raw"
    path.write_bytes(bytes(510) + b"\x55\xaa" + bytes((3 << 20) - 512))  # a boot sector; 3 chunks
    remote = LibvirtProvisioning(fixed(prov_conn), remote=True)  # a local file is uploaded
    name = f"{prefix}short"

    def progress(_stage: str, done: int, _total: int) -> None:
        if done == 1 << 20:  # after the first chunk, the file loses its last 2 MiB
            with open(path, "r+b") as f:
                f.truncate(1 << 20)

    spec = GuestSpec(name=name, source="import", image=str(path), start=False, network="none")
    with pytest.raises(BackendError) as err:
        remote.create(spec, progress)
    msg = err.value.message
    assert "ended early" in msg and "shrinks.raw" in msg and "removed volume" in msg, msg
    assert leftovers(prov_conn, prefix) == []
