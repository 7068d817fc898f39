"""Guest statistics: one ``getAllDomainStats`` call per tick, asking only for visible groups.

:func:`collect` is the blocking part (run it in a worker). :class:`GuestRates` turns two raw
samples into rates, using :mod:`tui.model.rates`, and keeps a short history per guest.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import libvirt

from tui.model.rates import History, cpu_percent, rate

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}

# Which stat groups each column needs. STATE is always asked for (it costs 0.2 ms).
COLUMN_GROUPS: dict[str, int] = {
    "cpu": libvirt.VIR_DOMAIN_STATS_CPU_TOTAL,
    "mem": libvirt.VIR_DOMAIN_STATS_BALLOON,
    "disk": libvirt.VIR_DOMAIN_STATS_BLOCK,
    "net": libvirt.VIR_DOMAIN_STATS_INTERFACE,
}


def groups_for(columns: Iterable[str]) -> int:
    mask = libvirt.VIR_DOMAIN_STATS_STATE
    for col in columns:
        mask |= COLUMN_GROUPS.get(col, 0)
    return mask


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


def _sum(stats: dict, prefix: str, count_key: str, field_: str) -> int | None:
    count = stats.get(count_key)
    if count is None:
        return None
    total = 0
    seen = False
    for i in range(int(count)):
        v = stats.get(f"{prefix}.{i}.{field_}")
        if v is not None:
            total += int(v)
            seen = True
    return total if seen else None


def parse_record(dom_name: str, dom_uuid: str, stats: dict, t: float) -> RawGuest:
    state = int(stats.get("state.state", libvirt.VIR_DOMAIN_NOSTATE))
    return RawGuest(
        name=dom_name,
        uuid=dom_uuid,
        state=state,
        reason=int(stats.get("state.reason", 0)),
        t=t,
        cpu_time=stats.get("cpu.time"),
        balloon_current=stats.get("balloon.current"),
        balloon_maximum=stats.get("balloon.maximum"),
        balloon_rss=stats.get("balloon.rss"),
        balloon_available=stats.get("balloon.available"),
        balloon_usable=stats.get("balloon.usable"),
        balloon_unused=stats.get("balloon.unused"),
        rd_bytes=_sum(stats, "block", "block.count", "rd.bytes"),
        wr_bytes=_sum(stats, "block", "block.count", "wr.bytes"),
        rx_bytes=_sum(stats, "net", "net.count", "rx.bytes"),
        tx_bytes=_sum(stats, "net", "net.count", "tx.bytes"),
        vcpus=stats.get("vcpu.current"),
    )


def collect(conn: libvirt.virConnect, groups: int) -> list[RawGuest]:
    """ONE bulk call for every guest. NOWAIT: a guest stuck in a job does not stall the tick.

    A guest that vanishes between listing and stats simply is not in the result.
    """
    flags = getattr(libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)
    try:
        records = conn.getAllDomainStats(groups, flags)
    except libvirt.libvirtError as exc:
        # The test driver and old daemons refuse NOWAIT; retry once without it.
        if flags and exc.get_error_code() in (
            libvirt.VIR_ERR_INVALID_ARG,
            libvirt.VIR_ERR_NO_SUPPORT,
            libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
        ):
            records = conn.getAllDomainStats(groups, 0)
        else:
            raise
    t = time.monotonic()
    out = []
    for dom, stats in records:
        try:
            name, uuid = dom.name(), dom.UUIDString()
        except libvirt.libvirtError:
            continue
        out.append(parse_record(name, uuid, stats, t))
    return out


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
        return self.state_code in (
            libvirt.VIR_DOMAIN_RUNNING,
            libvirt.VIR_DOMAIN_PAUSED,
            libvirt.VIR_DOMAIN_BLOCKED,
            libvirt.VIR_DOMAIN_SHUTDOWN,
            libvirt.VIR_DOMAIN_PMSUSPENDED,
        )


class GuestRates:
    """Turns successive raw samples into :class:`GuestSample`s and keeps per-guest history."""

    def __init__(self, host_cpus: int | None = None) -> None:
        self.host_cpus = host_cpus
        self._prev: dict[str, RawGuest] = {}
        self.history: dict[str, History] = {}

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
            dt = raw.t - prev.t if prev else 0.0
            running = raw.state == libvirt.VIR_DOMAIN_RUNNING
            nvcpu = raw.vcpus or vcpus.get(raw.uuid)

            def r(
                a: int | None, b: int | None, _dt: float = dt, _run: bool = running
            ) -> float | None:
                return rate(a, b, _dt) if _run else None

            cpu = cpu_host = None
            if prev is not None and running:
                cpu = cpu_percent(prev.cpu_time, raw.cpu_time, dt, nvcpu or 1)
                cpu_host = cpu_percent(prev.cpu_time, raw.cpu_time, dt, self.host_cpus or 1)
            rd = r(prev.rd_bytes, raw.rd_bytes) if prev else None
            wr = r(prev.wr_bytes, raw.wr_bytes) if prev else None
            rx = r(prev.rx_bytes, raw.rx_bytes) if prev else None
            tx = r(prev.tx_bytes, raw.tx_bytes) if prev else None
            used = None
            if raw.balloon_available is not None and raw.balloon_usable is not None:
                used = max(0, raw.balloon_available - raw.balloon_usable)
            elif raw.balloon_available is not None and raw.balloon_unused is not None:
                used = max(0, raw.balloon_available - raw.balloon_unused)
            sample = GuestSample(
                name=raw.name,
                uuid=raw.uuid,
                state=STATE_NAMES.get(raw.state, f"state {raw.state}"),
                state_code=raw.state,
                reason=raw.reason,
                vcpus=nvcpu,
                cpu_pct=cpu,
                cpu_host_pct=cpu_host,
                mem_cur_kib=raw.balloon_current
                if raw.state != libvirt.VIR_DOMAIN_SHUTOFF
                else None,
                mem_max_kib=raw.balloon_maximum or max_mem.get(raw.uuid),
                rss_kib=raw.balloon_rss,
                guest_used_kib=used,
                rd_bps=rd,
                wr_bps=wr,
                rx_bps=rx,
                tx_bps=tx,
                uptime_s=uptimes.get(raw.uuid) if running or raw.state == 3 else None,
            )
            self._prev[raw.uuid] = raw
            hist = self.history.setdefault(raw.uuid, History())
            hist.cpu.append(cpu or 0.0)
            hist.mem.append(float(raw.balloon_rss or raw.balloon_current or 0))
            hist.disk.append((rd or 0.0) + (wr or 0.0))
            hist.net.append((rx or 0.0) + (tx or 0.0))
            out.append(sample)
        for gone in set(self._prev) - seen:
            self._prev.pop(gone, None)
            self.history.pop(gone, None)
        return out
