"""A host's own figures (psutil locally, libvirt for a remote host) and one poll's result."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.model.domain import DomainInfo
from tui.model.guest import GuestSample


@dataclass(frozen=True)
class NetRate:
    name: str
    rx_bps: float | None
    tx_bps: float | None
    # What the interface is, when the sampler can tell (Linux sysfs): "physical", "bridge",
    # "vnet" (a guest's tap), "loopback", "ifb", "virtual"; "" when unknown (remote, tests).
    kind: str = ""


@dataclass(frozen=True)
class HostSample:
    hostname: str
    t: float
    per_cpu: tuple[float, ...]
    cpu_total: float
    mem_total: int
    mem_used: int
    mem_cached: int
    mem_available: int
    swap_total: int
    swap_used: int
    load: tuple[float, float, float]
    uptime_s: float
    disk_read_bps: float | None
    disk_write_bps: float | None
    nets: tuple[NetRate, ...] = ()
    source: str = "psutil"  # "psutil" (local) or "libvirt" (remote host: fewer figures)


@dataclass(frozen=True)
class RemoteHostSample:
    cpus: int | None
    mhz: int | None
    cpu_pct: float | None  # of all host CPUs, from node CPU times
    mem_total_kib: int | None
    mem_free_kib: int | None  # free + buffers + cached when libvirt reports them
    t: float


@dataclass(frozen=True)
class PollResult:
    """One tick of one host: every guest's sample, from one bulk stats call."""

    uri: str | None
    samples: list[GuestSample]
    elapsed_s: float
    groups: int
    remote_host: RemoteHostSample | None = None  # a remote host's own figures, from libvirt
    info: dict[str, DomainInfo] = field(default_factory=dict)  # uuid -> XML facts (cached)
    errors: dict[str, str] = field(default_factory=dict)  # uuid -> why its XML was unreadable
