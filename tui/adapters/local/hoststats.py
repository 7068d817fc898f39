"""Local host statistics from psutil. Rates come from :mod:`tui.model.rates`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from tui.model.host import HostSample, NetRate
from tui.model.rates import rate

__all__ = ["HostSample", "HostSampler", "NetRate"]


SYS_NET = Path("/sys/class/net")


def interface_kind(name: str, sys_net: Path = SYS_NET) -> str:
    """What a network interface is, from its name and sysfs (no I/O beyond two stat calls):
    "loopback", "ifb", "vnet" (a guest's tap or macvtap), "bridge", "physical" (it has a
    device), else "virtual" (veth, tun, dummy, wireguard …)."""
    if name == "lo":
        return "loopback"
    if name.startswith("ifb"):
        return "ifb"
    if name.startswith(("vnet", "macvtap")):
        return "vnet"
    base = sys_net / name
    try:
        if (base / "bridge").is_dir():
            return "bridge"
        if (base / "device").exists():
            return "physical"
    except OSError:
        return ""
    return "virtual" if base.exists() else ""


class HostSampler:
    """Samples psutil; the first call primes the counters (its rates are None)."""

    def __init__(self, show_loopback: bool = False) -> None:
        self.show_loopback = show_loopback
        self._prev_t: float | None = None
        self._prev_disk: tuple[int, int] | None = None
        self._prev_net: dict[str, tuple[int, int]] = {}
        self._kinds: dict[str, str] = {}  # interface name -> kind (sysfs read once per name)
        self.hostname = os.uname().nodename
        psutil.cpu_percent(percpu=True)  # prime

    def sample(self) -> HostSample:
        now = time.monotonic()
        dt = now - self._prev_t if self._prev_t is not None else 0.0
        per_cpu = tuple(psutil.cpu_percent(percpu=True))
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        try:
            load = os.getloadavg()
        except OSError:
            load = (0.0, 0.0, 0.0)
        disk = psutil.disk_io_counters()  # None under umockdev / in some containers
        rd = wr = None
        if disk is not None:
            cur = (disk.read_bytes, disk.write_bytes)
            if self._prev_disk is not None:
                rd = rate(self._prev_disk[0], cur[0], dt)
                wr = rate(self._prev_disk[1], cur[1], dt)
            self._prev_disk = cur
        nets = []
        counters = psutil.net_io_counters(pernic=True) or {}
        new_prev: dict[str, tuple[int, int]] = {}
        for name, c in sorted(counters.items()):
            if name == "lo" and not self.show_loopback:
                continue
            cur_n = (c.bytes_recv, c.bytes_sent)
            prev = self._prev_net.get(name)
            new_prev[name] = cur_n
            kind = self._kinds.get(name)
            if kind is None:
                kind = self._kinds[name] = interface_kind(name)
            nets.append(
                NetRate(
                    name,
                    rate(prev[0], cur_n[0], dt) if prev else None,
                    rate(prev[1], cur_n[1], dt) if prev else None,
                    kind,
                )
            )
        self._prev_net = new_prev  # a removed interface is forgotten, not a negative rate
        for gone in set(self._kinds) - set(new_prev):
            del self._kinds[gone]  # a name reused later (vnet3) is looked at afresh
        self._prev_t = now
        total = sum(per_cpu) / len(per_cpu) if per_cpu else 0.0
        cached = int(getattr(vm, "cached", 0) + getattr(vm, "buffers", 0))
        sample = HostSample(
            hostname=self.hostname,
            t=now,
            per_cpu=per_cpu,
            cpu_total=total,
            mem_total=vm.total,
            mem_used=vm.used,
            mem_cached=cached,
            mem_available=vm.available,
            swap_total=sw.total,
            swap_used=sw.used,
            load=(float(load[0]), float(load[1]), float(load[2])),
            uptime_s=time.time() - psutil.boot_time(),
            disk_read_bps=rd,
            disk_write_bps=wr,
            nets=tuple(nets),
        )
        return sample
