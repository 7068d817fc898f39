"""The CPU of a created guest: virt-install's default (virt-manager 4.x, virtinst/domain/cpu.py).

KVM: ``host-passthrough`` where the host's KVM domain capabilities say it is safe, else
``host-model``, else the host's CPU model; TCG: no ``<cpu>`` (QEMU's default). Checked against
the real ``virt-install --print-xml`` on this host's libvirtd, in the XML kvmdeck writes for
both accelerations, in what libvirtd defines, and in a KVM guest started here (this host's
kvm_pvm cannot run host-passthrough: the create falls back to QEMU's default and says so).
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET

import libvirt
import pytest

from testbed import bed
from tests.conftest import need
from tests.provision.conftest import leftovers
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.osinfo import defaults as os_defaults
from tui.adapters.libvirt.provision import LibvirtProvisioning
from tui.adapters.libvirt.provision_base import guest_cpu
from tui.adapters.libvirt.provision_xml import CpuPlan, DiskPlan, default_cpu, domain_xml
from tui.model.provision import GuestSpec

pytestmark = pytest.mark.libvirtd


def _domcaps(conn: libvirt.virConnect) -> str:
    return conn.getDomainCapabilities(None, "x86_64", "q35", "kvm", 0)


def _host_cpu(conn: libvirt.virConnect) -> tuple[str, str]:
    cpu = ET.fromstring(conn.getCapabilities()).find("host/cpu")
    assert cpu is not None
    return cpu.findtext("arch", ""), cpu.findtext("model", "")


def _virt_install_cpu(virt_type: str) -> str | None:
    """The ``<cpu>`` element of the real virt-install's XML for a guest of ``virt_type``."""
    cmd = need(bed.require_cmd, "virt-install", "virtinst")
    out = subprocess.run(
        [cmd, "--connect", bed.SYSTEM_URI, "--print-xml", "--virt-type", virt_type,
         "--name", "kvmdeck-loose-cpu-probe", "--memory", "256", "--vcpus", "1",
         "--machine", "q35", "--disk", "none", "--boot", "hd", "--noautoconsole",
         "--osinfo", "detect=off,require=off"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    cpu = ET.fromstring(out).find("cpu")
    return None if cpu is None else (cpu.get("mode") or "custom")


def test_the_default_is_virt_installs_for_kvm_and_tcg(libvirtd: libvirt.virConnect) -> None:
    """The same choice as the real virt-install on this host, for each acceleration."""
    arch, model = _host_cpu(libvirtd)
    domcaps = _domcaps(libvirtd)
    for virt_type in ("kvm", "qemu"):
        ours = default_cpu(virt_type, domcaps, arch, model)
        theirs = _virt_install_cpu(virt_type)
        print(f"\n{virt_type}: virt-install <cpu mode={theirs}>, kvmdeck {ours}")
        assert (ours.mode if ours else None) == theirs
        got = guest_cpu(libvirtd, virt_type)
        assert (got.mode if got else None) == theirs
    # this host's libvirt 9 says host-passthrough is safe: virt-install's first choice
    assert default_cpu("kvm", domcaps, arch, model) == CpuPlan("host-passthrough")
    assert default_cpu("qemu", domcaps, arch, model) is None


def test_the_fallbacks_follow_virtinst(libvirtd: libvirt.virConnect) -> None:
    """This host's real domain capabilities, edited as an older libvirt would say them:
    without hostPassthroughMigratable, host-model (fallback='forbid'); without that either,
    the host's CPU model when usable; nothing when it is not, or on another architecture."""
    arch, model = _host_cpu(libvirtd)
    real = _domcaps(libvirtd)
    older = re.sub(r"<enum name='hostPassthroughMigratable'>.*?</enum>", "", real, flags=re.S)
    assert older != real
    assert default_cpu("kvm", older, arch, model) == CpuPlan("host-model")
    oldest = older.replace("<model fallback='forbid'>", "<model fallback='allow'>", 1)
    assert oldest != older
    usable = re.search(r"<mode name='custom' supported='yes'>.*?</mode>", real, flags=re.S)
    assert usable is not None
    first = re.search(r"<model usable='(yes|no|unknown)'[^>]*>([^<]+)</model>", usable.group(0))
    assert first is not None
    name = first.group(2)
    with_usable = oldest.replace(first.group(0), f"<model usable='yes'>{name}</model>", 1)
    assert default_cpu("kvm", with_usable, arch, name) == CpuPlan("custom", name)
    unusable = oldest.replace(first.group(0), f"<model usable='no'>{name}</model>", 1)
    assert default_cpu("kvm", unusable, arch, name) is None
    assert default_cpu("kvm", real, "aarch64", model) is None
    assert default_cpu("kvm", None, arch, model) is None


def test_the_xml_for_each_acceleration(libvirtd: libvirt.virConnect) -> None:
    """KVM: ``<cpu mode='host-passthrough'/>`` between <features> and <clock>, as
    virt-install writes it; TCG: no <cpu>. libvirtd validates both documents."""
    for virt_type in ("kvm", "qemu"):
        cpu = guest_cpu(libvirtd, virt_type)
        xml = domain_xml(
            name="kvmdeck-loose-cpu-xml",
            virt_type=virt_type,
            os=os_defaults(""),
            os_id_url="",
            vcpus=1,
            memory_mib=256,
            disks=[DiskPlan("/var/lib/libvirt/images/none.qcow2", "qcow2", boot=1)],
            network="none",
            firmware="bios",
            spice_ready=True,
            cpu=cpu,
        )
        root = ET.fromstring(xml)
        tags = [child.tag for child in root]
        if virt_type == "kvm":
            assert root.find("cpu") is not None and root.find("cpu").attrib == {  # type: ignore[union-attr]
                "mode": "host-passthrough"
            }
            assert tags.index("cpu") == tags.index("features") + 1 == tags.index("clock") - 1
        else:
            assert root.find("cpu") is None
        validate = need(bed.require_cmd, "virt-xml-validate", "libvirt-clients")
        subprocess.run([validate, "-", "domain"], input=xml, text=True, check=True,
                       capture_output=True)  # fmt: skip


def _qemus_default(cpu: ET.Element | None) -> bool:
    """What libvirtd defines for a guest whose XML has no <cpu>: QEMU's default model, filled
    in as ``<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64``."""
    if cpu is None:
        return True
    model = cpu.find("model")
    return (
        cpu.get("mode") == "custom"
        and cpu.get("check") == "none"
        and model is not None
        and model.get("fallback") == "forbid"
        and not cpu.findall("feature")
    )


@pytest.fixture()
def prov(prov_conn: libvirt.virConnect) -> LibvirtProvisioning:
    return LibvirtProvisioning(fixed(prov_conn), remote=False)


def test_created_guests_cpu_as_libvirtd_defines_it(prov, prov_conn, prefix):  # type: ignore[no-untyped-def]
    """The create path itself: a KVM guest is defined with host-passthrough, a TCG one with
    no <cpu> of kvmdeck's (libvirt fills in QEMU's default when it starts); the message says
    the CPU."""
    kvm = prov.create(GuestSpec(name=f"{prefix}loose-kvm", virt_type="kvm", start=False,
                                disk_bytes=1 << 20, network="none"))  # fmt: skip
    tcg = prov.create(GuestSpec(name=f"{prefix}loose-tcg", virt_type="qemu", start=False,
                                disk_bytes=1 << 20, network="none"))  # fmt: skip
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE
    kvm_cpu = ET.fromstring(prov_conn.lookupByUUIDString(kvm.uuid).XMLDesc(flags)).find("cpu")
    assert kvm_cpu is not None and kvm_cpu.get("mode") == "host-passthrough"
    assert "kvm, CPU host-passthrough)" in kvm.message
    tcg_cpu = ET.fromstring(prov_conn.lookupByUUIDString(tcg.uuid).XMLDesc(flags)).find("cpu")
    assert _qemus_default(tcg_cpu)
    assert tcg.message.endswith("MiB, qemu)")  # no CPU of kvmdeck's to name
    for g in (kvm, tcg):
        prov.delete(g.uuid)
    assert leftovers(prov_conn, prefix) == []


def test_a_kvm_guest_starts_here_too(prov, prov_conn, prefix):  # type: ignore[no-untyped-def]
    """Started: with host-passthrough where the host's KVM runs it; on this host (kvm_pvm,
    where QEMU aborts setting the MSRs) with QEMU's default model, and the message says why.
    Either way the message and the running guest's XML agree."""
    got = prov.create(GuestSpec(name=f"{prefix}loose-run", virt_type="kvm", network="none",
                                disk_bytes=1 << 20, memory_mib=256))  # fmt: skip
    dom = prov_conn.lookupByUUIDString(got.uuid)
    assert got.started and dom.isActive()
    print(f"\n{got.message}")
    inactive = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find("cpu")
    if "QEMU's default CPU model" in got.message:
        assert "host-passthrough, virt-install's default for KVM, did not start" in got.message
        assert _qemus_default(inactive)  # the definition holds no <cpu> of kvmdeck's
    else:
        assert "CPU host-passthrough" in got.message
        assert inactive is not None and inactive.get("mode") == "host-passthrough"
    assert len(leftovers(prov_conn, prefix)) == 2  # the guest and its one volume
    dom.destroy()
    prov.delete(got.uuid)
    assert leftovers(prov_conn, prefix) == []


def test_a_kvm_guest_that_starts_with_no_cpu_is_removed(prov, prov_conn, prefix):  # type: ignore[no-untyped-def]
    """A start that fails for another reason (a bridge the host lacks) fails again with QEMU's
    default model: the create fails, names both errors, and removes what it made."""
    from tui.model.backend import BackendError

    with pytest.raises(BackendError) as info:
        prov.create(GuestSpec(name=f"{prefix}loose-nobr", virt_type="kvm", disk_bytes=1 << 20,
                              memory_mib=256, network="bridge:br-loose0"))  # fmt: skip
    msg = str(info.value)
    print(f"\n{msg}")
    assert "failed while starting the guest" in msg and "br-loose0" in msg
    assert "with QEMU's default CPU model; before, CPU host-passthrough" in msg
    assert "removed" in msg
    assert leftovers(prov_conn, prefix) == []
