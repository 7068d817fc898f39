"""libvirtd for the bench and its TCG guests: started here, destroyed here.

Uses the project's real test bed (``testbed/bed.py``). ``scripts/start-libvirtd.sh`` runs
first: it fixes /dev/kvm's group (without it libvirt re-probes QEMU on every call and a guest
takes minutes to start) and starts virtlogd/libvirtd when they are not running. Daemons that the
bench started are stopped again at the end, by PID.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libvirt

from bench.lvevents import EventCounter
from bench.procstat import pid_of
from bench.tmuxrun import kill_pid
from testbed import bed

ROOT = Path(__file__).resolve().parent.parent
START_SCRIPT = ROOT / "scripts" / "start-libvirtd.sh"
TAG = "b"


@dataclass
class Services:
    started: list[tuple[str, int]] = field(default_factory=list)  # (name, pid) we started
    events: EventCounter | None = None

    def events_between(self, t0: float, t1: float) -> int:
        return self.events.between(t0, t1) if self.events is not None else 0

    @property
    def libvirtd_pid(self) -> int:
        pid = pid_of("libvirtd")
        if pid is None:
            raise RuntimeError("libvirtd is not running")
        return pid


@contextlib.contextmanager
def services() -> Iterator[Services]:
    """libvirtd and virtlogd up (started if needed; stopped at the end if we started them)."""
    before = {name: pid_of(name) for name in ("virtlogd", "libvirtd")}
    subprocess.run(["bash", str(START_SCRIPT), sys.executable], check=True, cwd=ROOT)
    svc = Services()
    for name, pid in before.items():
        now = pid_of(name)
        if pid is None and now is not None:
            svc.started.append((name, now))
    try:
        svc.events = EventCounter(bed.SYSTEM_URI)
        yield svc
    finally:
        if svc.events is not None:
            svc.events.close()
        for _name, pid in reversed(svc.started):
            kill_pid(pid, grace_s=10.0)


def host_guest_count() -> int:
    """Every guest on qemu:///system (kvmdeck lists other clients' guests too)."""
    conn = libvirt.open(bed.SYSTEM_URI)
    try:
        return len(conn.listAllDomains(0))
    finally:
        conn.close()


@contextlib.contextmanager
def running_guests(count: int, boot_s: float = 2.0) -> Iterator[list[bed.Guest]]:
    """``count`` transient TCG guests (bed.create_transient), destroyed on the way out."""
    conn, _ = bed.ensure_libvirtd()
    bed.sweep(conn)
    guests: list[bed.Guest] = []
    try:
        for i in range(count):
            guests.append(bed.create_transient(conn, i, tag=TAG))
        bed.wait_for(
            lambda: all(conn.lookupByName(g.name).isActive() for g in guests),
            deadline_s=60,
            what="the bench guests to run",
        )
        time.sleep(boot_s)  # SeaBIOS settles; the first counters exist
        yield guests
    finally:
        for g in guests:
            bed.remove(conn, g)
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
