"""What the virtualization doctor reads about this host, as plain values.

The readers in :mod:`tui.adapters.local` (:func:`tui.adapters.local.vt.read_facts`) fill
:class:`VtFacts`; the judging is pure, in :mod:`tui.core.vt`, beside the display and USB doctors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.model.hostfacts import KernelLog, QemuUser
from tui.model.usb_doctor import UsbHostStatus
from tui.model.vt import Status

# The firmware MSR kvm-ok reads, by CPU vendor: Intel IA32_FEATURE_CONTROL (bit 0 lock, bit 2
# VMX outside SMX), AMD VM_CR (bit 4 SVMDIS).
MSR_INDEX = {"GenuineIntel": 0x3A, "AuthenticAMD": 0xC0010114, "HygonGenuine": 0xC0010114}


@dataclass(frozen=True)
class CpuInfo:
    readable: bool
    vendor: str = ""
    model_name: str = ""
    flags: frozenset[str] = frozenset()

    @property
    def virt_flag(self) -> str | None:
        return "vmx" if "vmx" in self.flags else "svm" if "svm" in self.flags else None


@dataclass(frozen=True)
class KvmModule:
    name: str
    builtin: bool
    nested: bool | None  # None: the module has no 'nested' parameter
    nested_raw: str | None = None


@dataclass(frozen=True)
class Identity:
    """Whose access to check (uid and every group id)."""

    uid: int
    gids: frozenset[int]


@dataclass(frozen=True)
class Node:
    """A device node's stat."""

    exists: bool
    is_char: bool = False
    mode: int = 0
    uid: int = 0
    gid: int = 0
    rdev: tuple[int, int] = (0, 0)

    def allows_rw(self, who: Identity) -> bool:
        """The classic owner/group/other test for read+write (root passes; ACLs are not seen)."""
        if who.uid == 0:
            return True
        if who.uid == self.uid:
            bits = (self.mode >> 6) & 0o6
        elif self.gid in who.gids:
            bits = (self.mode >> 3) & 0o6
        else:
            bits = self.mode & 0o6
        return bits == 0o6


@dataclass(frozen=True)
class ProbeResult:
    """The /dev/kvm functional probe (open, KVM_GET_API_VERSION, KVM_CREATE_VM)."""

    status: Status
    detail: str
    api_version: int | None = None
    vm_created: bool = False
    errno: int | None = None
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class DevKvmFacts:
    node: Node
    owner: str = ""  # the node's user and group names (numbers when not in passwd/group)
    group: str = ""
    user: str = ""  # who checked (this process, or the identity asked for) and its uid
    uid: int = 0
    accessible: bool = False  # that user may open it read-write
    probe: ProbeResult | None = None  # None: not attempted (no node, or not accessible)


@dataclass(frozen=True)
class MsrRead:
    """One firmware MSR (Intel IA32_FEATURE_CONTROL, AMD VM_CR) through /dev/cpu/0/msr."""

    present: bool  # /dev/cpu/0/msr exists
    value: int | None = None
    error: str = ""  # why it could not be read


@dataclass(frozen=True)
class ExtraFacts:
    """The rest of what virt-host-validate looks at, plus USB and udev."""

    vhost_net: bool = False
    tun: bool = False
    # (v1 controllers mounted, v2 controllers or None without cgroup2); None: unreadable
    cgroups: tuple[frozenset[str], frozenset[str] | None] | None = None
    acpi_tables: frozenset[str] = frozenset()
    iommu_groups: int = 0
    cmdline: tuple[str, ...] = ()
    hugepages: tuple[tuple[str, str], ...] = ()  # ("hugepages-2048kB", "0" or "?")
    usb: UsbHostStatus = field(default_factory=UsbHostStatus)
    usb_devices: int = 0


@dataclass(frozen=True)
class VtFacts:
    root: str
    cpu: CpuInfo
    hypervisor_type: str | None  # /sys/hypervisor/type
    modules: tuple[KvmModule, ...]
    dev_kvm: DevKvmFacts
    kernel_log: KernelLog
    msr: MsrRead
    qemu: QemuUser
    extras: ExtraFacts


__all__ = [
    "MSR_INDEX",
    "CpuInfo",
    "DevKvmFacts",
    "ExtraFacts",
    "Identity",
    "KvmModule",
    "MsrRead",
    "Node",
    "ProbeResult",
    "VtFacts",
]
