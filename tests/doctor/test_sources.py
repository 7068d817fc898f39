"""The readers behind the checks: cpuinfo, kernel log, /dev/kvm access, cgroups, libvirt's view."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.adapters.local.kernellog import read_kernel_log
from tui.adapters.local.vtcpu import read_cpuinfo
from tui.adapters.local.vtdevkvm import probe_kvm
from tui.adapters.local.vtextras import cgroup_controllers
from tui.core.vt import remote_report, with_libvirt
from tui.core.vt.checks import bios_log_check
from tui.core.vt.extras import cgroup_check
from tui.model.vt import KvmView, Status, VtReport
from tui.model.vtfacts import Identity, Node


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_vmx_flags_line_is_not_the_flags_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 hypervisor\n"
        "vmx flags\t: vnmi ept vpid\n\nprocessor\t: 1\nflags\t\t: fpu vmx\n",
    )
    cpu = read_cpuinfo(tmp_path)
    assert cpu.vendor == "GenuineIntel"
    assert cpu.virt_flag is None  # only the first processor's 'flags' line counts
    assert "hypervisor" in cpu.flags


def test_kmsg_records_are_parsed_and_continuations_skipped(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dev/kmsg",
        "5,0,0,-;Linux version 6.1.0\n SUBSYSTEM=cpu\n4,9,77,-;kvm: disabled by bios\n",
    )
    log = read_kernel_log(tmp_path)
    assert log.source == "/dev/kmsg" and log.covers_boot
    assert log.lines == ("Linux version 6.1.0", "kvm: disabled by bios")
    check = bios_log_check(log)
    assert check.status is Status.FAIL and check.detail.endswith("kvm: disabled by bios")


def test_kernel_log_without_boot_banner_is_unknown(tmp_path: Path) -> None:
    write(tmp_path, "var/log/kern.log", "Feb 2 09:00:03 h kernel: [ 99.1] usb 1-1: new device\n")
    log = read_kernel_log(tmp_path)
    assert log.source == "/var/log/kern.log" and not log.covers_boot
    assert bios_log_check(log).status is Status.UNKNOWN


def test_no_kernel_log_is_unknown(tmp_path: Path) -> None:
    log = read_kernel_log(tmp_path)
    assert log.source is None and "/dev/kmsg" in log.error
    assert bios_log_check(log).status is Status.UNKNOWN


def test_sgx_disabled_by_bios_is_not_a_vt_failure(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dev/kmsg",
        "5,0,0,-;Linux version 6.1.0\n4,3,0,-;x86/cpu: SGX disabled by BIOS.\n",
    )
    assert bios_log_check(read_kernel_log(tmp_path)).status is Status.OK


@pytest.mark.parametrize(
    ("node", "who", "allowed"),
    [
        (Node(True, True, 0o660, 0, 107), Identity(1000, frozenset({1000})), False),
        (Node(True, True, 0o660, 0, 107), Identity(1000, frozenset({1000, 107})), True),
        (Node(True, True, 0o600, 1000, 107), Identity(1000, frozenset({1000})), True),
        (Node(True, True, 0o640, 0, 107), Identity(1000, frozenset({107})), False),
        (Node(True, True, 0o666, 0, 107), Identity(1000, frozenset()), True),
        (Node(True, True, 0o000, 5, 5), Identity(0, frozenset({0})), True),
    ],
)
def test_mode_bits(node: Node, who: Identity, allowed: bool) -> None:
    assert node.allows_rw(who) is allowed


def test_probe_on_a_plain_file_is_not_possible(tmp_path: Path) -> None:
    plain = tmp_path / "kvm"
    plain.write_bytes(b"")
    result = probe_kvm(plain)
    assert result.status is Status.UNKNOWN and "ENOTTY" in result.detail
    assert probe_kvm(tmp_path / "missing").status is Status.FAIL


def test_cgroup_hybrid_counts_v1_and_v2(tmp_path: Path) -> None:
    write(
        tmp_path,
        "proc/self/mounts",
        "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n",
    )
    write(tmp_path, "sys/fs/cgroup/unified/cgroup.controllers", "cpuset memory io\n")
    check = cgroup_check(cgroup_controllers(tmp_path))
    assert check.status is Status.OK and check.detail.startswith("hybrid"), check
    write(tmp_path, "sys/fs/cgroup/unified/cgroup.controllers", "memory\n")
    check = cgroup_check(cgroup_controllers(tmp_path))
    assert check.status is Status.WARN and "cpuset" in check.detail and "blkio" in check.detail


def view(**kw: object) -> KvmView:
    base: dict[str, object] = {
        "uri": "qemu+ssh://root@far/system",
        "driver": "QEMU",
        "hostname": "far",
        "arch": "x86_64",
        "source": "getCapabilities",
    }
    return KvmView(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("features", "offered", "mode", "badge"),
    [
        ({"vmx"}, True, "intel", "KVM: hardware (intel)"),
        ({"svm", "hypervisor"}, True, "amd", "KVM: hardware (amd)"),
        ({"hypervisor"}, True, "pvm", "KVM: PVM"),
        ({"vmx"}, False, "none", "KVM: unavailable — emulation only"),
    ],
)
def test_remote_badge_is_libvirts_view_alone(
    features: set[str], offered: bool, mode: str, badge: str
) -> None:
    r = remote_report(
        view(cpu_vendor="Intel", cpu_features=frozenset(features), kvm_offered=offered)
    )
    assert (r.usable, r.mode, r.badge, r.basis) == (offered, mode, badge, "libvirt")
    assert r.remote and r.host_is_guest is ("hypervisor" in features)


def test_remote_unreachable() -> None:
    r = remote_report(KvmView(uri="qemu+ssh://far/system", error="Connection refused"))
    assert not r.usable and r.badge == "KVM: unknown — libvirt unreachable"
    assert r.verdict == "unknown: libvirt unreachable"
    check = r.check("libvirt")
    assert check is not None and check.status is Status.UNKNOWN


def test_libvirt_check_statuses() -> None:
    assert view(kvm_offered=True).check().status is Status.OK
    assert view(kvm_offered=False).check().status is Status.FAIL
    assert view(driver="TEST", kvm_offered=False).check().status is Status.UNKNOWN
    assert view(error="boom").check().status is Status.UNKNOWN


def test_libvirt_disagreement_is_a_note_not_the_verdict() -> None:
    local = VtReport(
        checks=(), usable=True, mode="pvm", host_is_guest=True, nested_supported=None, basis="probe"
    )
    merged = with_libvirt(local, view(uri="qemu:///system", kvm_offered=False))
    assert merged.usable and merged.mode == "pvm"
    assert any("restart libvirtd" in n for n in merged.notes)
    assert merged.check("libvirt") is not None
