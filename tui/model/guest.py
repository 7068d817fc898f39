"""A guest's figures: raw counters from libvirt, and the sample the screens show.

libvirt's virDomainState numbers are stable, so they live here as plain ints (the model
imports no libvirt). :class:`GuestRates` turns two raw samples into rates; it is pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tui.model.rates import cpu_percent, rate


class GuestState(enum.IntEnum):
    """virDomainState."""

    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4  # shutting down
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7

    @property
    def label(self) -> str:
        return STATE_NAMES[self]

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES


STATE_NAMES = {
    GuestState.NOSTATE: "no state",
    GuestState.RUNNING: "running",
    GuestState.BLOCKED: "blocked",
    GuestState.PAUSED: "paused",
    GuestState.SHUTDOWN: "shutting down",
    GuestState.SHUTOFF: "shut off",
    GuestState.CRASHED: "crashed",
    GuestState.PMSUSPENDED: "suspended",
}
ACTIVE_STATES = frozenset(
    {
        GuestState.RUNNING,
        GuestState.PAUSED,
        GuestState.BLOCKED,
        GuestState.SHUTDOWN,
        GuestState.PMSUSPENDED,
    }
)


def state_name(code: int) -> str:
    try:
        return STATE_NAMES[GuestState(code)]
    except ValueError:
        return f"state {code}"


@dataclass(frozen=True)
class RawGuest:
    """Counters for one guest at one instant, straight from libvirt."""

    name: str
    uuid: str
    state: int
    reason: int
    t: float
    cpu_time: int | None = None
    balloon_current: int | None = None  # KiB
    balloon_maximum: int | None = None
    balloon_rss: int | None = None
    balloon_available: int | None = None
    balloon_usable: int | None = None
    balloon_unused: int | None = None
    rd_bytes: int | None = None
    wr_bytes: int | None = None
    rx_bytes: int | None = None
    tx_bytes: int | None = None
    vcpus: int | None = None


@dataclass(frozen=True)
class GuestSample:
    """What the table shows for one guest. ``None`` means "not available" (shown as —)."""

    name: str
    uuid: str
    state: str
    state_code: int
    reason: int
    vcpus: int | None = None
    cpu_pct: float | None = None  # share of the guest's own vCPUs
    cpu_host_pct: float | None = None  # share of the whole host
    mem_cur_kib: int | None = None
    mem_max_kib: int | None = None
    rss_kib: int | None = None
    guest_used_kib: int | None = None
    rd_bps: float | None = None
    wr_bps: float | None = None
    rx_bps: float | None = None
    tx_bps: float | None = None
    uptime_s: float | None = None

    @property
    def active(self) -> bool:
        return self.state_code in ACTIVE_STATES

    @property
    def running(self) -> bool:
        return self.state_code == GuestState.RUNNING


class GuestRates:
    """Turns successive raw samples of one host's guests into :class:`GuestSample`s."""

    def __init__(self, host_cpus: int | None = None) -> None:
        self.host_cpus = host_cpus
        self._prev: dict[str, RawGuest] = {}

    def update(
        self,
        raws: list[RawGuest],
        vcpus: dict[str, int] | None = None,
        uptimes: dict[str, float | None] | None = None,
        max_mem: dict[str, int] | None = None,
    ) -> list[GuestSample]:
        vcpus = vcpus or {}
        max_mem = max_mem or {}
        uptimes = uptimes or {}
        out: list[GuestSample] = []
        seen: set[str] = set()
        for raw in raws:
            seen.add(raw.uuid)
            prev = self._prev.get(raw.uuid)
            running = raw.state == GuestState.RUNNING
            nvcpu = raw.vcpus or vcpus.get(raw.uuid)
            out.append(self._sample(raw, prev, running, nvcpu, uptimes, max_mem))
            self._prev[raw.uuid] = raw
        for gone in set(self._prev) - seen:
            self._prev.pop(gone, None)
        return out

    def _sample(
        self,
        raw: RawGuest,
        prev: RawGuest | None,
        running: bool,
        nvcpu: int | None,
        uptimes: dict[str, float | None],
        max_mem: dict[str, int],
    ) -> GuestSample:
        dt = raw.t - prev.t if prev else 0.0

        def r(a: int | None, b: int | None) -> float | None:
            return rate(a, b, dt) if running and prev is not None else None

        cpu = cpu_host = None
        if prev is not None and running:
            cpu = cpu_percent(prev.cpu_time, raw.cpu_time, dt, nvcpu or 1)
            cpu_host = cpu_percent(prev.cpu_time, raw.cpu_time, dt, self.host_cpus or 1)
        used = None
        if raw.balloon_available is not None and raw.balloon_usable is not None:
            used = max(0, raw.balloon_available - raw.balloon_usable)
        elif raw.balloon_available is not None and raw.balloon_unused is not None:
            used = max(0, raw.balloon_available - raw.balloon_unused)
        return GuestSample(
            name=raw.name,
            uuid=raw.uuid,
            state=state_name(raw.state),
            state_code=raw.state,
            reason=raw.reason,
            vcpus=nvcpu,
            cpu_pct=cpu,
            cpu_host_pct=cpu_host,
            mem_cur_kib=raw.balloon_current if raw.state != GuestState.SHUTOFF else None,
            mem_max_kib=raw.balloon_maximum or max_mem.get(raw.uuid),
            rss_kib=raw.balloon_rss,
            guest_used_kib=used,
            rd_bps=r(prev.rd_bytes if prev else None, raw.rd_bytes),
            wr_bps=r(prev.wr_bytes if prev else None, raw.wr_bytes),
            rx_bps=r(prev.rx_bytes if prev else None, raw.rx_bytes),
            tx_bps=r(prev.tx_bytes if prev else None, raw.tx_bytes),
            uptime_s=uptimes.get(raw.uuid) if running or raw.state == GuestState.PAUSED else None,
        )
