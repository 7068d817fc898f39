"""The demo host: the real test-driver connection, with simulated guest figures.

:class:`DemoHost` is a :class:`tui.core.ports.HostBackend` wrapping
:class:`tui.adapters.libvirt.host.LibvirtHost`: connection, events, guest actions and the
guests' states and names are the test driver's own; ``poll()`` then fills in, for running
guests only, CPU% (a mean-reverting random walk per guest), memory (current, RSS, in-guest),
disk and network rates and uptime. A paused guest keeps its memory and shows 0 activity; a
shut-off one shows none. The figures depend only on the seed, the guest's UUID and the number
of polls (uptime also on the clock), so tests get the same sequence every run.

:class:`DemoHostSampler` optionally pretends this machine has ``cpus`` CPUs (the
``KVMDECK_DEMO_CPUS`` environment variable in demo mode): the host panel's large-host layouts
can be seen on a laptop.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui.adapters.demo.media import DemoMedia
from tui.core.ports import HostCapabilities
from tui.model.addresses import AddressMap
from tui.model.backend import HostEvents
from tui.model.domain import DomainInfo
from tui.model.guest import GuestSample, GuestState
from tui.model.host import HostSample, PollResult

DEFAULT_SEED = 1
KiB_PER_MiB = 1024


@dataclass
class _Guest:
    """One guest's simulated state (the walk's position and its character)."""

    rng: random.Random
    base_cpu: float  # where its CPU% tends to
    cpu: float
    rss_frac: float  # of current memory
    used_frac: float  # in-guest use, of current memory
    disk: float  # typical disk B/s
    net: float  # typical net B/s
    started: float  # wall time it (pretends it) started


def _walk(
    rng: random.Random, value: float, base: float, step: float, lo: float, hi: float
) -> float:
    """One step of a random walk pulled back towards ``base``."""
    value += (base - value) * 0.15 + rng.gauss(0.0, step)
    return max(lo, min(hi, value))


def _burst(rng: random.Random, typical: float) -> float:
    """A rate around ``typical``: mostly near it, sometimes idle, now and then a burst."""
    roll = rng.random()
    if roll < 0.15:
        return 0.0
    if roll > 0.93:
        return typical * rng.uniform(4.0, 12.0)
    return typical * rng.uniform(0.3, 1.7)


class GuestSimulator:
    """Plausible figures for the test driver's guests (pure: no libvirt)."""

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        host_cpus: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seed = seed
        self.host_cpus = max(1, host_cpus)
        self.clock = clock
        self._guests: dict[str, _Guest] = {}
        self._first_poll = True

    def _guest(self, uuid: str) -> _Guest:
        g = self._guests.get(uuid)
        if g is None:
            rng = random.Random(f"kvmdeck-demo:{self.seed}:{uuid}")
            base = rng.choice((3.0, 8.0, 15.0, 30.0, 45.0, 65.0))
            # Guests running when the demo starts have been up for a while; a guest started
            # during the session starts from zero.
            age = rng.uniform(3600, 20 * 86400) if self._first_poll else 0.0
            g = self._guests[uuid] = _Guest(
                rng=rng,
                base_cpu=base,
                cpu=base,
                rss_frac=rng.uniform(0.55, 0.9),
                used_frac=rng.uniform(0.3, 0.7),
                disk=rng.choice((20e3, 150e3, 900e3, 4e6)),
                net=rng.choice((5e3, 60e3, 400e3, 2e6)),
                started=self.clock() - age,
            )
        return g

    def fill(self, samples: list[GuestSample], info: dict[str, DomainInfo]) -> list[GuestSample]:
        out = []
        for s in samples:
            out.append(self._one(s, info.get(s.uuid)))
        for uuid in set(self._guests) - {s.uuid for s in samples}:
            del self._guests[uuid]  # undefined: forget it
        self._first_poll = False
        return out

    def _one(self, s: GuestSample, facts: DomainInfo | None) -> GuestSample:
        state = s.state_code
        if state not in (GuestState.RUNNING, GuestState.PAUSED):
            self._guests.pop(s.uuid, None)  # it starts afresh (uptime 0) next time
            return s
        g = self._guest(s.uuid)
        vcpus = s.vcpus or (facts.vcpus if facts else None) or 1
        max_kib = s.mem_max_kib or (facts.max_mem_kib if facts else None) or 1024 * KiB_PER_MiB
        cur_kib = (facts.cur_mem_kib if facts else 0) or max_kib
        rng = g.rng
        g.rss_frac = _walk(rng, g.rss_frac, g.rss_frac, 0.004, 0.3, 0.98)
        g.used_frac = _walk(rng, g.used_frac, g.used_frac, 0.01, 0.1, 0.95)
        figures: dict[str, Any] = {
            "vcpus": vcpus,
            "mem_cur_kib": cur_kib,
            "mem_max_kib": max_kib,
            "rss_kib": int(cur_kib * g.rss_frac),
            "guest_used_kib": int(cur_kib * g.used_frac),
            "uptime_s": max(0.0, self.clock() - g.started),
        }
        if state == GuestState.RUNNING:
            g.cpu = _walk(rng, g.cpu, g.base_cpu, 6.0, 0.3, 99.0)
            figures.update(
                cpu_pct=round(g.cpu, 1),
                cpu_host_pct=round(min(100.0, g.cpu * vcpus / self.host_cpus), 1),
                rd_bps=_burst(rng, g.disk),
                wr_bps=_burst(rng, g.disk * 0.6),
                rx_bps=_burst(rng, g.net),
                tx_bps=_burst(rng, g.net * 0.4),
            )
        else:  # paused: resident, not moving
            figures.update(
                cpu_pct=0.0, cpu_host_pct=0.0, rd_bps=0.0, wr_bps=0.0, rx_bps=0.0, tx_bps=0.0
            )
        return dataclasses.replace(s, **figures)


class DemoHost:
    """A :class:`tui.core.ports.HostBackend`: the real test-driver backend, simulated figures."""

    def __init__(
        self,
        uri: str | None,
        readonly: bool,
        events: HostEvents,
        host_cpus: int | None = None,
        seed: int = DEFAULT_SEED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from tui.adapters.libvirt.host import LibvirtHost

        self.inner = LibvirtHost(uri, readonly, events, host_cpus=host_cpus)
        self.uri = uri
        self.sim = GuestSimulator(seed, host_cpus or 8, clock)
        self.media = DemoMedia()  # CD-ROM media changed in running guests (demo/storage.py)
        self._caps: tuple[HostCapabilities, HostCapabilities] | None = None  # (inner's, ours)

    @property
    def hostname(self) -> str:
        return self.inner.hostname

    @hostname.setter
    def hostname(self, value: str) -> None:
        self.inner.hostname = value

    @property
    def session(self) -> Any:  # what bench/tests read of a LibvirtHost
        return self.inner.session

    @property
    def remote(self) -> bool:
        return False

    @property
    def test_driver(self) -> bool:
        return True

    def open(self) -> None:
        self.inner.open()

    def poll(self, columns: tuple[str, ...]) -> PollResult:
        result = self.inner.poll(columns)
        info = dict(result.info)
        for s in result.samples:  # the detail's disks: media changed in a running guest
            if s.state_code not in (GuestState.RUNNING, GuestState.PAUSED):
                self.media.forget(s.uuid)
            elif s.uuid in info:
                info[s.uuid] = self.media.apply_info(info[s.uuid])
        return dataclasses.replace(
            result, samples=self.sim.fill(result.samples, result.info), info=info
        )

    def act(self, uuid: str, verb: str) -> None:
        self.inner.act(uuid, verb)

    def addresses(self, uuids: tuple[str, ...]) -> AddressMap:
        return self.inner.addresses(uuids)  # the test driver makes up lease addresses

    def close(self) -> None:
        self.inner.close()

    def mark_stale(self, uuid: str | None = None) -> None:
        self.inner.mark_stale(uuid)

    def capabilities(self) -> HostCapabilities:
        """The test driver's families, but USB plugging and attaching, DHCP leases, and volume
        upload and resize and CD-ROM media (demo/storage.py) simulated."""
        caps = self.inner.capabilities()
        if caps.usb is None:  # not open yet
            return caps
        if self._caps is None or self._caps[0] is not caps:
            from tui.adapters.demo.networks import DemoNetworks
            from tui.adapters.demo.storage import DemoStorage
            from tui.adapters.demo.usb import DemoUsb
            from tui.adapters.libvirt.families import using

            inner = self.inner
            # the test driver keeps no DHCP leases: the demo's come from its <dhcp><host>s
            # the test driver refuses volume upload and resize and device updates
            storage = DemoStorage(lambda: using(inner), self.uri, self.media, inner.mark_stale)
            demo = dataclasses.replace(
                caps,
                usb=DemoUsb(inner),
                networks=DemoNetworks(lambda: using(inner)),
                storage=storage,
            )
            self._caps = (caps, demo)
        return self._caps[1]


class DemoHostSampler:
    """This machine's real figures (psutil), as if it had ``cpus`` CPUs: each CPU's load is
    a random walk around the real average (seeded). For seeing the host panel's layouts for a
    large host; only in demo mode (``KVMDECK_DEMO_CPUS``)."""

    def __init__(self, inner: Any, cpus: int, seed: int = DEFAULT_SEED) -> None:
        self.inner = inner
        self.cpus = max(1, cpus)
        self.rng = random.Random(f"kvmdeck-demo-cpus:{seed}")
        self.loads = [self.rng.uniform(0.0, 60.0) for _ in range(self.cpus)]

    def sample(self) -> HostSample:
        real: HostSample = self.inner.sample()
        rng = self.rng
        self.loads = [
            _walk(rng, x, real.cpu_total if i % 7 else 92.0, 8.0, 0.0, 100.0)
            for i, x in enumerate(self.loads)
        ]
        per_cpu = tuple(round(x, 1) for x in self.loads)
        return dataclasses.replace(
            real, per_cpu=per_cpu, cpu_total=round(sum(per_cpu) / self.cpus, 1)
        )


__all__ = ["DemoHost", "DemoHostSampler", "GuestSimulator"]
