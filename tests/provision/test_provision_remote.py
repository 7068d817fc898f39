"""Provisioning on a qemu+ssh:// host (an sshd on 127.0.0.1 in front of the real libvirtd):
files of this machine reach the remote pool through libvirt streams only (no shell, no scp),
with progress; deleting the guest removes everything the create made, the uploaded base too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import libvirt
import pytest

from testbed import bed
from tests.provision.conftest import leftovers
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.provision import LibvirtProvisioning
from tui.model.provision import CloudInit, GuestSpec

pytestmark = [pytest.mark.libvirtd, pytest.mark.sshd]


def test_remote_create_uploads_base_and_seed_then_delete_removes_all(
    sshd: bed.Sshd, prov_conn: libvirt.virConnect, prefix: str, tmp_path: Path
) -> None:
    bed.require_cmd("qemu-img", "qemu-utils")
    base = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    remote = libvirt.open(sshd.uri)
    try:
        prov = LibvirtProvisioning(fixed(remote), remote=True)
        seen: list[tuple[str, int, int]] = []
        name = f"{prefix}r"
        got = prov.create(
            GuestSpec(
                name=name,
                source="cloud",
                image=str(base),
                linked=True,
                start=False,
                network="none",
                memory_mib=128,
                vcpus=1,
                virt_type="qemu",
                cloud_init=CloudInit(user="ops", ssh_keys=("ssh-ed25519 AAAA k",)),
            ),
            lambda stage, done, total: seen.append((stage, done, total)),
        )
        names = sorted(Path(p).name for p in got.made)
        assert names == [f"{name}-base.qcow2", f"{name}-seed.iso", f"{name}.qcow2"]
        stages = {s for s, _d, _t in seen}
        assert "uploading tiny.qcow2" in stages and "uploading seed.iso" in stages
        assert all(d <= t for _s, d, t in seen if t)
        overlay = prov_conn.storageVolLookupByPath(
            next(p for p in got.made if p.endswith(f"{name}.qcow2"))
        )
        assert f"{name}-base.qcow2" in overlay.XMLDesc(0)  # the overlay's backing: the upload
        plan = prov.delete_plan(got.uuid)
        assert sorted(Path(p).name for p in plan.volumes) == names
        assert "3 volumes" in prov.delete(got.uuid)
    finally:
        remote.close()
    assert leftovers(prov_conn, prefix) == []
