"""The local verdict on fixture trees: Intel+nested, AMD, BIOS-disabled, PVM, no KVM, no access."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from tests.doctor.conftest import copy_fixture, set_dev_kvm
from tui.cli.doctor import probe_host
from tui.core.vt import with_libvirt
from tui.model.vt import KvmView, Status
from tui.model.vtfacts import Identity, ProbeResult

ALICE = Identity(uid=1000, gids=frozenset({1000}))


def ok_probe(calls: list[Path]):  # type: ignore[no-untyped-def]
    def probe(path: Path) -> ProbeResult:
        calls.append(path)
        return ProbeResult(Status.OK, "API version 12, KVM_CREATE_VM ok", 12, True)

    return probe


def status(report, key: str) -> Status:  # type: ignore[no-untyped-def]
    check = report.check(key)
    assert check is not None, key
    return check.status


def test_intel_nested_static(trees: dict[str, Path]) -> None:
    r = probe_host(trees["intel_nested"])
    assert (r.usable, r.mode, r.basis) == (True, "intel", "static")
    assert r.badge == "KVM: hardware (intel)"
    assert r.nested_supported is True
    assert r.host_is_guest is False
    probe = r.check("kvm_probe")
    assert probe is not None and probe.status is Status.UNKNOWN and "ENOTTY" in probe.detail
    for key in ("cpu", "bios_log", "module", "nested", "dev_kvm", "dev_kvm_access", "qemu_user"):
        assert status(r, key) is Status.OK, key
    for key in ("vhost_net", "tun", "cgroups", "iommu", "hugepages", "usb", "udev"):
        assert status(r, key) is Status.OK, key
    assert "3 IOMMU groups" in r.check("iommu").detail  # type: ignore[union-attr]
    assert "2048kB: 512 reserved" in r.check("hugepages").detail  # type: ignore[union-attr]


def test_intel_probe_runs_on_dev_kvm_under_root(trees: dict[str, Path]) -> None:
    calls: list[Path] = []
    root = trees["intel_nested"]
    r = probe_host(root, kvm_probe=ok_probe(calls))
    assert calls == [root / "dev/kvm"]
    assert (r.usable, r.mode, r.basis) == (True, "intel", "probe")
    assert not any("probe could not run" in n for n in r.notes)


def test_probe_failure_makes_kvm_unusable(trees: dict[str, Path]) -> None:
    def busy(_path: Path) -> ProbeResult:
        return ProbeResult(
            Status.FAIL, "KVM_CREATE_VM: Device or resource busy", 12, errno=errno.EBUSY
        )

    r = probe_host(trees["intel_nested"], kvm_probe=busy)
    assert (r.usable, r.mode, r.basis) == (False, "none", "probe")
    assert r.badge == "KVM: unavailable — emulation only"
    check = r.check("kvm_probe")
    assert check is not None and check.status is Status.FAIL and "VirtualBox" in check.fix


def test_amd_reads_kern_log_of_the_current_boot_only(trees: dict[str, Path]) -> None:
    r = probe_host(trees["amd"])
    assert (r.usable, r.mode) == (True, "amd")
    assert r.badge == "KVM: hardware (amd)"
    assert r.nested_supported is True  # nested=1
    log = r.check("bios_log")
    # The older boot's "kvm: disabled by bios" must not count.
    assert log is not None and log.status is Status.OK and "kern.log" in log.detail
    iommu = r.check("iommu")
    assert iommu is not None and iommu.status is Status.WARN and "amd_iommu=on" in iommu.fix
    cg = r.check("cgroups")
    assert cg is not None and cg.status is Status.OK and cg.detail.startswith("v1")


def test_bios_disabled(trees: dict[str, Path]) -> None:
    r = probe_host(trees["bios_disabled"])
    assert (r.usable, r.mode) == (False, "none")
    assert r.badge == "KVM: unavailable — emulation only"
    log = r.check("bios_log")
    assert log is not None and log.status is Status.FAIL
    assert "VMX (outside TXT) disabled by BIOS" in log.detail
    assert status(r, "cpu") is Status.FAIL
    assert status(r, "bios_msr") is Status.UNKNOWN  # no /dev/cpu/0/msr: never a guess
    assert status(r, "dev_kvm") is Status.FAIL
    assert r.host_is_guest is False


@pytest.mark.parametrize(
    ("value", "expected"), [(0x1, Status.FAIL), (0x5, Status.OK), (0x0, Status.OK)]
)
def test_intel_msr_feature_control(tmp_path: Path, value: int, expected: Status) -> None:
    root = copy_fixture("bios_disabled", tmp_path)
    msr = root / "dev/cpu/0/msr"
    msr.parent.mkdir(parents=True)
    msr.write_bytes(b"\0" * 0x3A + struct.pack("<Q", value))  # pread at the MSR index
    check = probe_host(root).check("bios_msr")
    assert check is not None and check.status is expected, check
    assert f"{value:#x}" in check.detail


def test_amd_msr_svmdis_through_injected_reader(tmp_path: Path) -> None:
    root = copy_fixture("amd", tmp_path)
    (root / "dev/cpu/0").mkdir(parents=True)
    (root / "dev/cpu/0/msr").write_bytes(b"")
    seen: list[int] = []

    def reader(_path: Path, index: int) -> int:
        seen.append(index)
        return 0x18  # SVMDIS (bit 4) set

    check = probe_host(root, msr_reader=reader).check("bios_msr")
    assert seen == [0xC0010114]
    assert check is not None and check.status is Status.FAIL and "SVMDIS" in check.detail


def test_pvm_from_this_hosts_real_files(trees: dict[str, Path]) -> None:
    r = probe_host(trees["pvm"])
    assert (r.usable, r.mode) == (True, "pvm")
    assert r.badge == "KVM: PVM"
    assert r.verdict == "usable, PVM"
    assert r.host_is_guest is True
    assert r.nested_supported is None  # kvm_pvm has no 'nested' parameter
    assert any("PVM-enabled guest kernel" in n for n in r.notes)
    module = r.check("module")
    assert module is not None and module.detail.startswith("kvm_pvm built in")
    cpu = r.check("cpu")
    assert cpu is not None and cpu.status is Status.WARN and "no vmx/svm" in cpu.detail
    msr = r.check("bios_msr")  # /dev/cpu/0 has cpuid but no msr
    assert msr is not None and msr.status is Status.UNKNOWN and "msr" in msr.detail
    assert status(r, "usb") is Status.WARN
    assert status(r, "udev") is Status.WARN
    # /dev/kvm is 0600 root:root here (no udev): libvirt-qemu may not open it.
    qemu = r.check("qemu_user")
    assert qemu is not None and qemu.status is Status.WARN and "libvirt-qemu" in qemu.detail
    assert "chmod 0660 /dev/kvm" in qemu.fix


def test_no_kvm_at_all(trees: dict[str, Path]) -> None:
    r = probe_host(trees["no_kvm"])
    assert (r.usable, r.mode) == (False, "none")
    assert r.host_is_guest is True  # from /sys/hypervisor/type, no 'hypervisor' flag
    cpu = r.check("cpu")
    assert cpu is not None and cpu.status is Status.FAIL and "nested" in cpu.fix
    assert status(r, "module") is Status.FAIL
    assert status(r, "dev_kvm") is Status.FAIL
    cg = r.check("cgroups")
    assert cg is not None and cg.status is Status.WARN and "cpuset" in cg.detail


def _no_permission_tree(tmp_path: Path) -> Path:
    root = copy_fixture("intel_nested", tmp_path)
    set_dev_kvm(root, 0o660, 107)  # group kvm; alice (uid 1000) is not in it
    return root


def test_dev_kvm_without_permission(tmp_path: Path) -> None:
    root = _no_permission_tree(tmp_path)

    def must_not_run(_path: Path) -> ProbeResult:
        raise AssertionError("probe attempted without permission")

    r = probe_host(root, identity=ALICE, kvm_probe=must_not_run)
    access = r.check("dev_kvm_access")
    assert access is not None and access.status is Status.WARN
    assert "group 'kvm'" in access.detail and "alice" in access.detail
    assert "usermod -aG kvm alice" in access.fix
    assert status(r, "kvm_probe") is Status.UNKNOWN
    assert status(r, "qemu_user") is Status.OK  # libvirt-qemu's primary group is kvm
    # The user's access is a note, not the verdict.
    assert (r.usable, r.mode, r.basis) == (True, "intel", "static")
    assert any(n.startswith("About this user") for n in r.notes)

    system = with_libvirt(
        r,
        KvmView(
            uri="qemu:///system",
            driver="QEMU",
            arch="x86_64",
            kvm_offered=True,
            source="getCapabilities",
        ),
    )
    assert system.usable and system.badge == "KVM: hardware (intel)"
    assert any("qemu:///system is unaffected" in n for n in system.notes)
    session = with_libvirt(
        r,
        KvmView(
            uri="qemu:///session",
            driver="QEMU",
            arch="x86_64",
            kvm_offered=True,
            source="getCapabilities",
        ),
    )
    assert any("qemu:///session" in n and "cannot use KVM" in n for n in session.notes)


def test_group_member_may_open_and_probe_runs(tmp_path: Path) -> None:
    root = _no_permission_tree(tmp_path)
    gid = (root / "dev/kvm").stat().st_gid
    calls: list[Path] = []
    member = Identity(uid=1000, gids=frozenset({1000, gid}))
    r = probe_host(root, identity=member, kvm_probe=ok_probe(calls))
    assert status(r, "dev_kvm_access") is Status.OK
    assert calls and r.basis == "probe"


def test_qemu_user_from_qemu_conf(tmp_path: Path) -> None:
    root = copy_fixture("pvm", tmp_path)
    set_dev_kvm(root, 0o600, 0)
    conf = root / "etc/libvirt/qemu.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('# user = "qemu"\nuser = "+0"\n')
    assert status(probe_host(root), "qemu_user") is Status.OK  # QEMU runs as root
    conf.write_text('user = "nobody-here"\n')
    check = probe_host(root).check("qemu_user")
    assert check is not None and check.status is Status.UNKNOWN and "nobody-here" in check.detail
    set_dev_kvm(root, 0o660, 107)
    conf.write_text("")  # defaults: libvirt-qemu, whose primary group is kvm here
    assert status(probe_host(root), "qemu_user") is Status.OK
