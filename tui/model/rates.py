"""Rates from two counter samples: the one place where deltas become B/s and CPU%.

A counter that goes backwards (guest reboot resets cpu.time, a NIC is replaced, a device is
reset) gives no rate for that interval rather than a negative or huge spike. A missing counter
gives ``None``, which the UI shows as "—", never 0.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

HISTORY = 60  # samples kept for sparklines (about a minute at the default refresh)

# A counter must not jump by more than this in one second to be believed (about 1 PB/s).
MAX_PLAUSIBLE_PER_S = 1 << 50


def rate(prev: int | float | None, cur: int | float | None, dt: float) -> float | None:
    """Per-second rate of a monotonic counter, or None when it cannot be known."""
    if prev is None or cur is None or dt <= 0:
        return None
    delta = cur - prev
    if delta < 0:
        return None  # reset: the next interval will have a rate again
    per_s = delta / dt
    if per_s > MAX_PLAUSIBLE_PER_S:
        return None
    return float(per_s)


def cpu_percent(
    prev_ns: int | None, cur_ns: int | None, dt: float, cpus: int | None = 1
) -> float | None:
    """CPU% from two cumulative CPU-time samples in nanoseconds.

    ``cpus`` scales the result to a share of that many CPUs (100% = all of them busy).
    The result is clamped to 0..100: timer skew between the sample and the clock may
    otherwise give 100.3%.
    """
    per_s = rate(prev_ns, cur_ns, dt)
    if per_s is None or not cpus or cpus <= 0:
        return None
    pct = per_s / 1e9 / cpus * 100.0
    return max(0.0, min(100.0, pct))


@dataclass
class History:
    """The last :data:`HISTORY` figures of one host or guest, for sparklines and charts."""

    cpu: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    mem: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    disk: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    net: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
