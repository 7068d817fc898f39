"""The virtualization doctor's verdict: is KVM usable on this host, and how (intel, amd, pvm).

Every source is read under ``root`` (proc, sys, dev, run, etc), so tests point it at fixture
trees. The /dev/kvm probe and the MSR reader are injectable. libvirt's view is merged in by
:func:`with_libvirt` (local host) or stands alone in :func:`remote_report` (remote host).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tui.adapters.local.kernellog import read_kernel_log
from tui.adapters.local.qemuuser import qemu_user
from tui.adapters.local.vtcpu import (
    VENDOR_MODE,
    active_module,
    cpu_check,
    host_is_guest,
    kvm_modules,
    module_check,
    nested_check,
    read_cpuinfo,
)
from tui.adapters.local.vtdevkvm import Identity, KvmProbe, check_dev_kvm, probe_kvm
from tui.adapters.local.vtextras import extra_checks
from tui.adapters.local.vtfirmware import (
    MsrReader,
    bios_log_check,
    msr_check,
    read_msr,
)
from tui.adapters.local.vtqemuuser import qemu_user_check
from tui.model.vt import MODES, Check, KvmView, Status, VtReport

__all__ = [
    "MODES",
    "Check",
    "KvmView",
    "Status",
    "VtReport",
    "probe_host",
    "remote_report",
    "with_libvirt",
]

PVM_NOTE = (
    "KVM runs through PVM (kvm_pvm), not VT-x/AMD-V: PVM guests need a PVM-enabled guest kernel."
)


def probe_host(
    root: Path = Path("/"),
    *,
    identity: Identity | None = None,
    kvm_probe: KvmProbe = probe_kvm,
    msr_reader: MsrReader = read_msr,
) -> VtReport:
    """Run every local check under ``root``. ``identity=None`` checks this process's access."""
    root = Path(root)
    cpu = read_cpuinfo(root)
    mods = kvm_modules(root)
    active = active_module(mods, cpu)
    guest, guest_why = host_is_guest(root, cpu)
    pvm_loaded = any(m.name == "kvm_pvm" for m in mods)
    dev = check_dev_kvm(root, identity, kvm_probe, module_loaded=active is not None)
    checks: list[Check] = [
        cpu_check(cpu, pvm_loaded, guest),
        bios_log_check(read_kernel_log(root)),
        msr_check(root, cpu.vendor, msr_reader),
        module_check(mods, active, cpu),
        nested_check(active),
        *dev.checks,
        qemu_user_check(root, dev.node, qemu_user(root)),
    ]
    notes: list[str] = []
    if dev.probe is not None and dev.probe.status is not Status.UNKNOWN:
        basis, usable = "probe", dev.probe.status is Status.OK
    else:  # probe not possible: decide from the files alone
        basis, usable = "static", dev.node.exists and active is not None
    mode = "none"
    if usable:
        if active is not None:
            mode = {"kvm_intel": "intel", "kvm_amd": "amd", "kvm_pvm": "pvm"}[active.name]
        else:
            mode = VENDOR_MODE.get(cpu.vendor, "pvm")
            notes.append("/dev/kvm works but no known KVM module is in /sys/module.")
    checks.append(
        Check(
            "host_is_guest",
            "Host is itself a VM",
            Status.OK,
            {True: "yes", False: "no", None: "unknown"}[guest] + f" ({guest_why})",
        )
    )
    nested = active.nested if active is not None else None
    if guest:
        notes.append(f"This host is itself a virtual machine ({guest_why}).")
    if mode == "pvm":
        notes.append(PVM_NOTE)
        if "vmx" not in cpu.flags and "svm" not in cpu.flags:
            notes.append(
                "kvm-ok and virt-host-validate read the CPU flags first and say FAIL "
                "here; /dev/kvm works all the same."
            )
    if basis == "static":
        notes.append("The /dev/kvm probe could not run; the verdict comes from the files alone.")
    access = dev.checks[1]
    if access.status is Status.WARN:
        notes.append(f"About this user, not the verdict: {access.detail}.")
    checks.extend(extra_checks(root))
    return VtReport(
        checks=tuple(checks),
        usable=usable,
        mode=mode,
        host_is_guest=guest,
        nested_supported=nested,
        basis=basis,
        vendor=cpu.vendor,
        notes=tuple(notes),
        root=str(root),
    )


probe = probe_host  # the app's header badge: ``probe().badge`` (local host, no libvirt)


def with_libvirt(report: VtReport, view: KvmView) -> VtReport:
    """Add libvirt's view of the local host. The local verdict stands; disagreement is a note."""
    notes = list(report.notes)
    uri = view.uri or ""
    access = report.check("dev_kvm_access")
    if access is not None and access.status is Status.WARN:
        if uri.endswith("/session"):
            notes.append(
                "qemu:///session runs QEMU as this user: its guests cannot use KVM "
                "until this user may open /dev/kvm."
            )
        elif uri.endswith("/system"):
            notes.append(
                "qemu:///system is unaffected: QEMU runs as its own user (libvirt-qemu), "
                "which opens /dev/kvm."
            )
    if (
        view.kvm_offered is False
        and report.usable
        and not view.error
        and (view.driver.upper() in ("", "QEMU"))
    ):
        notes.append(
            "KVM works here but libvirt offers only TCG: restart libvirtd so it probes QEMU again."
        )
    if view.kvm_offered and not report.usable:
        notes.append("libvirt offers kvm although the local checks found KVM unusable.")
    return replace(report, checks=(*report.checks, view.check()), libvirt=view, notes=tuple(notes))


def remote_report(view: KvmView) -> VtReport:
    """A remote host: the verdict and badge come from libvirt's view alone."""
    notes = [
        f"Remote host {view.hostname or view.uri}: the local checks do not apply; "
        "this verdict is libvirt's."
    ]
    usable = bool(view.kvm_offered)
    mode = "none"
    if usable:
        if "vmx" in view.cpu_features:
            mode = "intel"
        elif "svm" in view.cpu_features:
            mode = "amd"
        else:
            mode = "pvm"
            notes.append("libvirt offers kvm but the host CPU shows no vmx/svm: presumably PVM.")
            notes.append(PVM_NOTE)
    guest = "hypervisor" in view.cpu_features if view.cpu_vendor else None
    vendor = {"Intel": "GenuineIntel", "AMD": "AuthenticAMD"}.get(view.cpu_vendor or "", "")
    return VtReport(
        checks=(view.check(),),
        usable=usable,
        mode=mode,
        host_is_guest=guest,
        nested_supported=None,
        basis="libvirt",
        vendor=vendor,
        notes=tuple(notes),
        libvirt=view,
        remote=True,
        root="",
    )
