"""The virtualization doctor's verdict: is KVM usable on this host, and how (intel, amd, pvm).

Pure, beside the display and USB doctors: :func:`judge` turns the facts the readers in
:mod:`tui.adapters.local` gathered (:class:`tui.model.vtfacts.VtFacts`) into a
:class:`tui.model.vt.VtReport`; libvirt's view is merged in by :func:`with_libvirt` (local host)
or stands alone in :func:`remote_report` (remote host). The composition (read, then judge) is
:func:`tui.cli.doctor.probe_host`.
"""

from __future__ import annotations

from dataclasses import replace

from tui.core.vt.checks import (
    VENDOR_MODE,
    active_module,
    bios_log_check,
    cpu_check,
    dev_kvm_checks,
    host_is_guest,
    module_check,
    msr_check,
    nested_check,
    qemu_user_check,
)
from tui.core.vt.extras import extra_checks
from tui.model.vt import Check, KvmView, Status, VtReport
from tui.model.vtfacts import VtFacts

PVM_NOTE = (
    "KVM runs through PVM (kvm_pvm), not VT-x/AMD-V: PVM guests need a PVM-enabled guest kernel."
)


def judge(facts: VtFacts) -> VtReport:
    """Every local check, from the facts read under ``facts.root``."""
    cpu, mods, dev = facts.cpu, facts.modules, facts.dev_kvm
    active = active_module(mods, cpu)
    guest, guest_why = host_is_guest(cpu, facts.hypervisor_type)
    pvm_loaded = any(m.name == "kvm_pvm" for m in mods)
    dev_checks = dev_kvm_checks(dev, module_loaded=active is not None)
    checks: list[Check] = [
        cpu_check(cpu, pvm_loaded, guest),
        bios_log_check(facts.kernel_log),
        msr_check(cpu.vendor, facts.msr),
        module_check(mods, active, cpu),
        nested_check(active),
        *dev_checks,
        qemu_user_check(dev, facts.qemu),
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
    access = dev_checks[1]
    if access.status is Status.WARN:
        notes.append(f"About this user, not the verdict: {access.detail}.")
    checks.extend(extra_checks(facts.extras))
    return VtReport(
        checks=tuple(checks),
        usable=usable,
        mode=mode,
        host_is_guest=guest,
        nested_supported=nested,
        basis=basis,
        vendor=cpu.vendor,
        notes=tuple(notes),
        root=facts.root,
    )


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


__all__ = ["PVM_NOTE", "judge", "remote_report", "with_libvirt"]
