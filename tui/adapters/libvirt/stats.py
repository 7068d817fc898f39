"""Guest statistics: one ``getAllDomainStats`` call per tick, asking only for visible groups.

:func:`collect` is the blocking part (run it in a worker). Rates come from
:class:`tui.model.guest.GuestRates`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import libvirt

from tui.model.guest import GuestRates, GuestSample, RawGuest
from tui.model.rates import History

__all__ = [
    "COLUMN_GROUPS",
    "GuestRates",
    "GuestSample",
    "History",
    "RawGuest",
    "collect",
    "groups_for",
    "parse_record",
    "rss_kib",
]

# Which stat groups each column needs. STATE is always asked for. What each costs libvirtd
# with 6 TCG guests at one call a second (bench P2, libvirt 9.0): state 0.04%, interface +0.04,
# cpu +0.17, balloon +0.28 (a QMP round trip per guest), block +0.48 (two per guest).
# "memsize" (current/max memory, RSS) needs the balloon group only where kvmdeck cannot read
# them itself: on a local host they come from the domain XML and /proc (HostSession.poll);
# "mem" is the whole balloon group (the guest's own view of its memory: In-guest).
COLUMN_GROUPS: dict[str, int] = {
    "cpu": libvirt.VIR_DOMAIN_STATS_CPU_TOTAL,
    "mem": libvirt.VIR_DOMAIN_STATS_BALLOON,
    "memsize": libvirt.VIR_DOMAIN_STATS_BALLOON,
    "disk": libvirt.VIR_DOMAIN_STATS_BLOCK,
    "net": libvirt.VIR_DOMAIN_STATS_INTERFACE,
}


def groups_for(columns: Iterable[str], local_memory: bool = False) -> int:
    """The stat groups for these columns; ``local_memory``: "memsize" is read locally."""
    mask = libvirt.VIR_DOMAIN_STATS_STATE
    for col in columns:
        if col == "memsize" and local_memory:
            continue
        mask |= COLUMN_GROUPS.get(col, 0)
    return mask


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process (what libvirt's ``balloon.rss`` reads for a QEMU)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_KIB
    except (OSError, ValueError, IndexError):
        return None


PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


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
