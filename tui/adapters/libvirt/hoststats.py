"""A remote host's figures from libvirt (psutil sees only the local machine)."""

from __future__ import annotations

import time

import libvirt

from tui.model.host import RemoteHostSample

__all__ = ["RemoteHostSample", "RemoteHostStats"]


class RemoteHostStats:
    """``getInfo`` once, then ``getCPUStats``/``getMemoryStats`` per tick; '—' for what they lack."""

    def __init__(self) -> None:
        self._prev: tuple[float, int, int] | None = None  # (t, busy ns, total ns)
        self._info: list[int | str] | None = None

    def sample(self, conn: libvirt.virConnect) -> RemoteHostSample:
        if self._info is None:
            self._info = conn.getInfo()
        now = time.monotonic()
        pct = None
        try:
            cpu = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0)
            busy = int(cpu.get("kernel", 0)) + int(cpu.get("user", 0))
            total = busy + int(cpu.get("idle", 0)) + int(cpu.get("iowait", 0))
            if self._prev is not None and total > self._prev[2]:
                share = (busy - self._prev[1]) / (total - self._prev[2])
                pct = max(0.0, min(100.0, share * 100.0)) if busy >= self._prev[1] else None
            self._prev = (now, busy, total)
        except libvirt.libvirtError:
            pct = None
        total_kib = free_kib = None
        try:
            mem = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
            total_kib = mem.get("total")
            if "free" in mem:
                free_kib = int(mem["free"]) + int(mem.get("buffers", 0)) + int(mem.get("cached", 0))
        except libvirt.libvirtError:
            pass
        return RemoteHostSample(
            cpus=int(self._info[2]) if self._info else None,
            mhz=int(self._info[3]) if self._info else None,
            cpu_pct=pct,
            mem_total_kib=total_kib,
            mem_free_kib=free_kib,
            t=now,
        )
