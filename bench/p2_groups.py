"""P2's breakdown: what each libvirt stat group costs libvirtd, with the bench's guests.

A thread in this process calls ``getAllDomainStats(STATE | group, NOWAIT)`` once a second (the
shape of kvmdeck's tick) while libvirtd's CPU is read from its threads' schedstat (ns, where
/proc/PID/stat has 10 ms ticks); an idle window in each round is the baseline. Rounds rotate
the order. The figures say which groups are worth avoiding (tui/adapters/libvirt/stats.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import libvirt

from bench import commands as cmd
from bench.results import median

ROUNDS = 3
WINDOW_S = 6.0
GROUPS: dict[str, int] = {
    "state": 0,
    "cpu": libvirt.VIR_DOMAIN_STATS_CPU_TOTAL,
    "balloon": libvirt.VIR_DOMAIN_STATS_BALLOON,
    "block": libvirt.VIR_DOMAIN_STATS_BLOCK,
    "interface": libvirt.VIR_DOMAIN_STATS_INTERFACE,
}
NOWAIT = getattr(libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)


def thread_ns(pid: int) -> dict[int, int]:
    """CPU ns of each thread of ``pid`` (threads that come or go in a window are left out)."""
    out: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out


def window(libvirtd: int, conn: libvirt.virConnect | None, mask: int, seconds: float) -> float:
    """libvirtd's CPU (% of one core) while ``conn`` asks for ``mask`` once a second."""
    stop = threading.Event()

    def tick() -> None:
        while conn is not None and not stop.is_set():
            conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE | mask, NOWAIT)
            stop.wait(1.0)

    caller = threading.Thread(target=tick, daemon=True)
    caller.start()
    try:
        time.sleep(0.5)
        before, t0 = thread_ns(libvirtd), time.monotonic()
        time.sleep(seconds)
        after, t1 = thread_ns(libvirtd), time.monotonic()
    finally:
        stop.set()
        caller.join(timeout=10)
    used = sum(after[t] - before[t] for t in before.keys() & after.keys())
    return 100.0 * used / 1e9 / (t1 - t0)


def group_costs(libvirtd: int, rounds: int = ROUNDS, seconds: float = WINDOW_S) -> dict[str, float]:
    """Median libvirtd CPU caused (%, idle subtracted) per group, STATE included in each."""
    libvirt.registerErrorHandler(lambda *_a: None, None)
    conn = libvirt.open(cmd.SYSTEM_URI)
    names = ["idle", *GROUPS]
    got: dict[str, list[float]] = {n: [] for n in names}
    try:
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                if name == "idle":
                    got[name].append(window(libvirtd, None, 0, seconds))
                else:
                    got[name].append(window(libvirtd, conn, GROUPS[name], seconds))
    finally:
        conn.close()
    caused = {}
    for name in GROUPS:
        caused[name] = median([v - i for v, i in zip(got[name], got["idle"], strict=True)])
    return caused
