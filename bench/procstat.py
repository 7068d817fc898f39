"""CPU time and peak memory of processes, read from /proc (no psutil: nothing to skew)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def own_ticks(pid: int) -> int:
    """utime + stime of every thread of ``pid``, in clock ticks."""
    f = _stat_fields(pid)
    return int(f[11]) + int(f[12])


def reaped_ticks(pid: int) -> int:
    """cutime + cstime: CPU of children that ``pid`` has waited for."""
    f = _stat_fields(pid)
    return int(f[13]) + int(f[14])


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def tree_ticks(pid: int) -> int:
    """CPU of a process and its children, live and reaped, in clock ticks.

    A child that exits during a window moves its time into its parent's cutime, so the sum stays
    continuous as long as children are waited for.
    """
    total = 0
    for p in tree(pid):
        try:
            total += own_ticks(p) + reaped_ticks(p)
        except (OSError, ValueError, IndexError):
            continue  # exited between listing and reading
    return total


def main_thread_cpu_ns(pid: int) -> int:
    """CPU time of the main thread of ``pid`` (its event loop), in ns (schedstat: exact, unlike
    the 10 ms ticks of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0])


def vm_hwm_kib(pid: int) -> int:
    """Peak resident set size (VmHWM) of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError(f"no VmHWM for pid {pid}")


def alive(pid: int) -> bool:
    try:
        state = _stat_fields(pid)[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class CpuWindow:
    """CPU use of several processes (each with its children) over one shared wall-clock window."""

    pids: dict[str, int]
    own_only: frozenset[str] = frozenset()  # names measured without their children
    _t0: float = 0.0
    _start: dict[str, int] = field(default_factory=dict)

    def _ticks(self, name: str) -> int:
        pid = self.pids[name]
        return own_ticks(pid) if name in self.own_only else tree_ticks(pid)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = {name: self._ticks(name) for name in self.pids}

    def stop(self) -> tuple[float, dict[str, float]]:
        """Return (wall seconds, {name: % of one core})."""
        ticks = {name: self._ticks(name) for name in self.pids}
        wall = time.monotonic() - self._t0
        pct = {
            name: 100.0 * (ticks[name] - self._start[name]) / CLK_TCK / wall for name in self.pids
        }
        return wall, pct


def pid_of(name: str) -> int | None:
    """PID of the oldest process whose comm is exactly ``name``."""
    found: list[tuple[int, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm == name:
                found.append((int(_stat_fields(int(entry.name))[19]), int(entry.name)))
        except (OSError, IndexError, ValueError):
            continue
    return min(found)[1] if found else None
