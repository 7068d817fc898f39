"""Guest statistics: one ``getAllDomainStats`` call per tick, asking only for visible groups.

:func:`collect` is the blocking part (run it in a worker). Rates come from
:class:`tui.model.guest.GuestRates`.
"""

from __future__ import annotations

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
]

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
