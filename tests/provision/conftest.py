"""Fixtures of the provisioning tests (issue 21): a name prefix per run, cleanup of everything
it made, and the Debian 12 cloud image (tests/provision/image/, cached by recipe hash)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from testbed import bed

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("KVMDECK_PROVISION_CACHE", "/var/tmp/kvmdeck-provision"))
PREFIX = "kvmdeck-provision-"


def run_prefix() -> str:
    return f"{PREFIX}{os.getpid()}-"


def sweep(conn: libvirt.virConnect, prefix: str) -> None:
    """Remove guests, volumes and pools whose names start with ``prefix``."""
    for dom in conn.listAllDomains(0):
        if not dom.name().startswith(prefix):
            continue
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefineFlags(
                libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            )
    for pool in conn.listAllStoragePools(0):
        if pool.name().startswith(prefix):
            with contextlib.suppress(libvirt.libvirtError):
                if pool.isActive():
                    for v in pool.listAllVolumes(0):
                        v.delete(0)
                    pool.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                pool.undefine()
            continue
        if not pool.isActive():
            continue
        with contextlib.suppress(libvirt.libvirtError):
            pool.refresh(0)
            for v in pool.listAllVolumes(0):
                if v.name().startswith(prefix):
                    with contextlib.suppress(libvirt.libvirtError):
                        v.delete(0)


def fresh(fn) -> None:  # type: ignore[no-untyped-def]
    """``fn(conn)`` on a connection of its own: a finalizer still cleans up after the session's
    connection was lost (libvirtd restarted meanwhile)."""
    conn = libvirt.open(bed.SYSTEM_URI)
    try:
        fn(conn)
    finally:
        conn.close()


def leftovers(conn: libvirt.virConnect, prefix: str) -> list[str]:
    """Guests and volumes named ``prefix…`` that still exist."""
    out = [d.name() for d in conn.listAllDomains(0) if d.name().startswith(prefix)]
    for pool in conn.listAllStoragePools(0):
        if not pool.isActive():
            continue
        pool.refresh(0)
        out += [v.path() for v in pool.listAllVolumes(0) if v.name().startswith(prefix)]
    return out


@pytest.fixture(scope="session")
def prov_conn(libvirtd) -> Iterator[libvirt.virConnect]:  # type: ignore[no-untyped-def]
    """qemu:///system, with this run's guests and volumes removed at the end (and those of
    earlier runs whose pytest process is gone)."""
    for dom in libvirtd.listAllDomains(0):
        m = re.match(rf"{PREFIX}(\d+)-", dom.name())
        if m and not Path(f"/proc/{m.group(1)}").exists():
            sweep(libvirtd, m.group(0))
    yield libvirtd
    fresh(lambda conn: sweep(conn, run_prefix()))


@pytest.fixture()
def prefix(prov_conn: libvirt.virConnect, request: pytest.FixtureRequest) -> Iterator[str]:
    """A name prefix of this test; its guests and volumes are removed afterwards."""
    p = f"{run_prefix()}{request.node.name[:20].strip('_').replace('_', '-')}-"
    p = re.sub(r"[^A-Za-z0-9-]", "", p)
    yield p
    fresh(lambda conn: sweep(conn, p))


def image_dir() -> Path:
    """The cloud image of the current recipe; built (root, mmdebstrap) when missing."""
    digest = subprocess.run(
        [str(HERE / "image" / "recipe-hash")], capture_output=True, text=True, check=True
    ).stdout.strip()
    d = CACHE / digest
    img = d / "debian12-cloud.qcow2"
    if img.exists():
        return d
    if os.geteuid() != 0:
        raise bed.Missing(
            "the provisioning tests' cloud image (building it needs root)", "mmdebstrap"
        )
    for cmd, pkg in (
        ("mmdebstrap", "mmdebstrap"),
        ("syslinux", "syslinux"),
        ("mkfs.vfat", "dosfstools"),
        ("sfdisk", "fdisk"),
        ("mcopy", "mtools"),
    ):
        bed.require_cmd(cmd, pkg)
    lock = CACHE / "build.lock"
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)
    r = subprocess.run(
        ["flock", str(lock), str(HERE / "image" / "build.sh"), str(d)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if r.returncode != 0 or not img.exists():
        raise bed.Missing(
            f"the cloud image (build.sh: {(r.stderr or r.stdout)[-600:]})", "mmdebstrap"
        )
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="session")
def cloud_image() -> Path:
    from tests.conftest import need

    return need(image_dir) / "debian12-cloud.qcow2"
