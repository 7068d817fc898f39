"""Helpers for the doctor tests: fixture trees and what this real machine should report."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from testbed import bed

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_root(name: str) -> Path:
    return FIXTURES / name


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target)
    return target


# Git keeps no modes or owners: the trees get /dev/kvm's real-world mode when copied.
DEV_KVM = {"intel_nested": (0o660, 107), "amd": (0o660, 107), "pvm": (0o600, 0)}


def set_dev_kvm(root: Path, mode: int, gid: int) -> None:
    """chmod/chgrp ``root/dev/kvm``; without root, rename the file's own group in etc/group."""
    dev = root / "dev/kvm"
    os.chmod(dev, mode)
    try:
        os.chown(dev, 0, gid)
    except PermissionError:
        own = dev.stat().st_gid
        name = {107: "kvm", 0: "root"}.get(gid, str(gid))
        lines = [
            x
            for x in (root / "etc/group").read_text().splitlines()
            if x.split(":")[2] != str(own) and not x.startswith(f"{name}:")
        ]
        lines.append(f"{name}:x:{own}:")
        (root / "etc/group").write_text("\n".join(lines) + "\n")


def materialize(name: str, dest: Path) -> Path:
    root = copy_fixture(name, dest)
    if name in DEV_KVM:
        set_dev_kvm(root, *DEV_KVM[name])
    return root


@pytest.fixture(scope="session")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture tree, copied once, with /dev/kvm's mode and group set."""
    dest = tmp_path_factory.mktemp("doctor-trees")
    return {p.name: materialize(p.name, dest) for p in FIXTURES.iterdir() if p.is_dir()}


def require_real_kvm() -> Path:
    """This machine's /dev/kvm. Missing: skip outside CI, fail with CI=true."""
    dev = Path("/dev/kvm")
    try:
        is_char = stat.S_ISCHR(dev.stat().st_mode)
    except OSError:
        is_char = False
    if not is_char:
        msg = (
            "/dev/kvm is missing: these tests need a host with KVM (kvm_intel, kvm_amd or kvm_pvm)"
        )
        if bed.in_ci():
            pytest.fail(f"CI=true and {msg}")
        pytest.skip(msg)
    return dev


def expected_real_mode() -> str:
    """What the verdict must say here, from facts read independently of tui.adapters.local."""
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.split(":")[0].strip() == "flags":
            flags = set(line.split(":", 1)[1].split())
            break
    mods = set(os.listdir("/sys/module"))
    if "vmx" in flags and "kvm_intel" in mods:
        return "intel"
    if "svm" in flags and "kvm_amd" in mods:
        return "amd"
    return "pvm" if "kvm_pvm" in mods else "none"


def real_host_is_guest() -> bool:
    text = Path("/proc/cpuinfo").read_text()
    return " hypervisor" in text or Path("/sys/hypervisor/type").exists()
