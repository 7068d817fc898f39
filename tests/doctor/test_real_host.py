"""This machine, for real: the /dev/kvm ioctls, the kernel log, libvirt's view, the CLI.

Here (kvm_pvm built in, no vmx/svm, 'hypervisor' flag) the verdict must be "usable, PVM".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.doctor.conftest import expected_real_mode, real_host_is_guest, require_real_kvm
from tui.adapters.libvirt.capabilities import kvm_view, open_kvm_view
from tui.adapters.local.kernellog import read_kernel_log
from tui.adapters.local.vtdevkvm import probe_kvm
from tui.cli.doctor import probe_host
from tui.model.vt import Status

REPO = Path(__file__).resolve().parents[2]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_real_probe_creates_a_vm_and_closes_everything() -> None:
    dev = require_real_kvm()
    before = open_fds()
    result = probe_kvm(dev)
    assert result.status is Status.OK, result
    assert result.api_version == 12 and result.vm_created
    assert open_fds() == before
    assert result.elapsed_ms < 1000


def test_real_verdict() -> None:
    require_real_kvm()
    start = time.perf_counter()
    r = probe_host()  # the local part of what the app's header badge shows
    elapsed = time.perf_counter() - start
    assert r.usable and r.basis == "probe"
    assert r.mode == expected_real_mode()
    assert r.host_is_guest is real_host_is_guest()
    assert elapsed < 2.0  # cheap enough for the dashboard header
    if r.mode == "pvm":
        assert r.badge == "KVM: PVM"
        assert any("PVM-enabled guest kernel" in n for n in r.notes)
    if not Path("/dev/cpu/0/msr").exists():
        assert r.check("bios_msr").status is Status.UNKNOWN  # type: ignore[union-attr]


def test_real_kernel_log_is_bounded() -> None:
    if not os.access("/dev/kmsg", os.R_OK):
        pytest.skip("/dev/kmsg is not readable by this user")
    start = time.perf_counter()
    log = read_kernel_log(Path("/"))
    assert time.perf_counter() - start < 2.0  # non-blocking: never waits for new records
    assert log.source == "/dev/kmsg" and log.lines


@pytest.mark.libvirtd
@pytest.mark.timeout(400)  # here every capabilities call re-probes QEMU: see qemu_user
def test_libvirt_view_matches_the_local_verdict(libvirtd) -> None:  # type: ignore[no-untyped-def]
    require_real_kvm()
    rw = kvm_view(libvirtd, "qemu:///system")
    assert rw.error == "" and rw.arch == os.uname().machine
    assert rw.source == "getDomainCapabilities"  # allowed on a read-write connection
    assert rw.kvm_offered is probe_host(Path("/")).usable
    ro = open_kvm_view("qemu:///system")  # read-only: getDomainCapabilities is refused
    assert ro.source == "getCapabilities" and ro.kvm_offered is rw.kvm_offered


@pytest.mark.libvirtd
@pytest.mark.timeout(400)
def test_cli_doctor_json_on_this_machine(libvirtd) -> None:  # type: ignore[no-untyped-def]
    require_real_kvm()
    env = {k: v for k, v in os.environ.items() if k != "LIBVIRT_DEFAULT_URI"}
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "doctor", "--json", "-c", "qemu:///system"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    mode = expected_real_mode()
    assert (data["usable"], data["mode"]) == (True, mode)
    if mode == "pvm":
        assert data["verdict"] == "usable, PVM" and data["badge"] == "KVM: PVM"
        assert data["host_is_guest"] is True
    assert data["libvirt"]["kvm_offered"] is True
    assert {c["key"] for c in data["checks"]} >= {"cpu", "module", "kvm_probe", "libvirt"}
