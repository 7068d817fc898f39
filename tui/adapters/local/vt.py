"""The virtualization doctor's readers, in one call: :func:`read_facts` reads everything the
verdict needs under ``root`` (proc, sys, dev, run, etc: tests point it at fixture trees) into
:class:`tui.model.vtfacts.VtFacts`. The /dev/kvm probe and the MSR reader are injectable. The
judging is :func:`tui.core.vt.judge`, pure; :func:`tui.cli.doctor.probe_host` does both.
"""

from __future__ import annotations

from pathlib import Path

from tui.adapters.local.kernellog import read_kernel_log
from tui.adapters.local.qemuuser import qemu_user
from tui.adapters.local.vtcpu import hypervisor_type, kvm_modules, read_cpuinfo
from tui.adapters.local.vtdevkvm import KvmProbe, probe_kvm, read_dev_kvm
from tui.adapters.local.vtextras import read_extras
from tui.adapters.local.vtfirmware import MsrReader, read_msr, read_msr_fact
from tui.model.vtfacts import MSR_INDEX, Identity, VtFacts


def read_facts(
    root: Path = Path("/"),
    *,
    identity: Identity | None = None,
    kvm_probe: KvmProbe = probe_kvm,
    msr_reader: MsrReader = read_msr,
) -> VtFacts:
    """Everything the virtualization doctor judges (blocks: files, the /dev/kvm probe).
    ``identity=None`` checks this process's access."""
    root = Path(root)
    cpu = read_cpuinfo(root)
    return VtFacts(
        root=str(root),
        cpu=cpu,
        hypervisor_type=hypervisor_type(root),
        modules=kvm_modules(root),
        dev_kvm=read_dev_kvm(root, identity, kvm_probe),
        kernel_log=read_kernel_log(root),
        msr=read_msr_fact(root, MSR_INDEX.get(cpu.vendor), msr_reader),
        qemu=qemu_user(root),
        extras=read_extras(root),
    )


__all__ = ["read_facts"]
