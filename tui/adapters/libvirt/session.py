"""A host session: the link, the per-guest XML cache, rates and uptime, with no UI.

Blocking methods (``refresh_inventory``, ``poll``) are meant for thread workers. Event
registration must happen on the event loop's thread (libvirtaio), via ``register_events``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path

import libvirt
import psutil

from tui.adapters.libvirt.connection import HostLink, is_remote, link_is_dead
from tui.adapters.libvirt.domxml import DomainInfo, parse_domain
from tui.adapters.libvirt.hoststats import RemoteHostStats
from tui.adapters.libvirt.stats import GuestRates, RawGuest, collect, groups_for, rss_kib
from tui.model.guest import ACTIVE_STATES
from tui.model.host import PollResult

__all__ = ["HostSession", "PollResult"]

log = logging.getLogger(__name__)

QEMU_PID_DIR = Path("/run/libvirt/qemu")
BALLOON_EVERY = 10  # polls: one in ten asks libvirt for the balloon group anyway


class HostSession:
    def __init__(self, link: HostLink, host_cpus: int | None = None) -> None:
        self.link = link
        self.info: dict[str, DomainInfo] = {}  # uuid -> static facts
        self.persistent: dict[str, bool] = {}
        self.started_wall: dict[str, float] = {}  # uuid -> wall time of the STARTED we saw
        self._uptime_base: dict[str, float | None] = {}  # uuid -> process start (wall)
        self.rates = GuestRates(host_cpus)
        self.errors: dict[str, str] = {}  # uuid -> why its XML could not be read
        self._stale: set[str] = set()
        self._lock = threading.Lock()
        self._callback_ids: list[int] = []
        self.calls = 0  # bulk stats calls made (bench asserts one per tick)
        self._listed = False  # the inventory was read once (a host may have no guests at all)
        self.remote_stats = RemoteHostStats() if is_remote(link.uri) else None
        # Memory read here, not by libvirtd: QEMU pids, the last current size libvirt gave.
        self._procs_visible = not (is_remote(link.uri) or link.is_test)
        self._pids: dict[str, int | None] = {}
        self._cur_kib: dict[str, int | None] = {}
        self._polls = self._misses = 0

    @property
    def uri(self) -> str | None:
        return self.link.uri

    # -- inventory --------------------------------------------------------------------------
    def mark_stale(self, uuid: str | None = None) -> None:
        """An event says the XML changed: re-read it on the next poll (not every tick)."""
        with self._lock:
            if uuid is None:
                self._stale.update(self.info)
                self._stale.add("*")
            else:
                self._stale.add(uuid)

    def refresh_inventory(self) -> None:
        conn = self.link.conn
        if conn is None:
            return
        doms = conn.listAllDomains(0)
        present = set()
        for dom in doms:
            try:
                uuid = dom.UUIDString()
                present.add(uuid)
                if uuid in self.info and uuid not in self._stale and "*" not in self._stale:
                    continue
                xml = dom.XMLDesc(0)
                self.persistent[uuid] = bool(dom.isPersistent())
            except libvirt.libvirtError:
                continue  # vanished between list and read
            self._uptime_base.pop(uuid, None)
            try:
                self.info[uuid] = parse_domain(xml)
                self.errors.pop(uuid, None)
            except Exception as exc:  # one guest's odd XML costs its facts, not the poll
                log.warning("cannot read the XML of guest %s: %r", uuid, exc)
                self.info.pop(uuid, None)
                self.errors[uuid] = f"unreadable domain XML: {exc}"
        for gone in (set(self.info) | set(self.errors)) - present:
            self.info.pop(gone, None)
            self.errors.pop(gone, None)
            self.persistent.pop(gone, None)
        with self._lock:
            self._stale.clear()
        self._listed = True

    def _uptime(self, uuid: str, running: bool) -> float | None:
        if not running:
            self._uptime_base.pop(uuid, None)
            return None
        base = self._uptime_base.get(uuid)
        if base is None:
            base = self._process_start(uuid)
            if base is None:
                base = self.started_wall.get(uuid)
            self._uptime_base[uuid] = base
        return None if base is None else max(0.0, time.time() - base)

    def _process_start(self, uuid: str) -> float | None:
        """libvirt has no start-time API: use the QEMU process's start time when local."""
        if is_remote(self.uri) or self.link.is_test:
            return None
        pid = self._qemu_pid(uuid)
        if pid is None:
            return None
        try:
            return float(psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    # -- stats ------------------------------------------------------------------------------
    def poll(self, columns: tuple[str, ...]) -> PollResult:
        """One tick: one bulk stats call. Blocking; run it in a worker."""
        conn = self.link.conn
        if conn is None:
            raise libvirt.libvirtError("not connected")
        if self._stale or not self._listed:
            self.refresh_inventory()
        local = self._local_memory(columns)
        groups = groups_for(columns, local_memory=local)
        t0 = time.perf_counter()
        try:
            raws = collect(conn, groups)
        except libvirt.libvirtError as exc:
            if link_is_dead(conn):
                self.link.mark_lost(str(exc))
            raise
        self.calls += 1
        elapsed = time.perf_counter() - t0
        for r in raws:
            if r.uuid not in self.info and r.uuid not in self.errors:
                self.mark_stale(r.uuid)  # read the newcomer's XML next tick, not every guest's
        if "memsize" in columns:
            raws = self._memory(raws, asked=not local)
        vcpus = {u: i.vcpus for u, i in self.info.items()}
        uptimes = {r.uuid: self._uptime(r.uuid, r.state in (1, 3)) for r in raws}
        max_mem = {u: i.max_mem_kib for u, i in self.info.items()}
        samples = self.rates.update(raws, vcpus, uptimes, max_mem)
        remote = None
        if self.remote_stats is not None:
            remote = self.remote_stats.sample(conn)
        return PollResult(
            self.uri, samples, elapsed, groups, remote, dict(self.info), dict(self.errors)
        )

    # -- memory without the balloon group (bench P2) --------------------------------------
    def _local_memory(self, columns: tuple[str, ...]) -> bool:
        """Read current memory and RSS here rather than ask libvirtd (a QMP call per guest):
        on a local host whose QEMU processes kvmdeck can see, unless a column needs the
        guest's own figures ("mem"), and except every BALLOON_EVERY polls, which refresh the
        current size (a balloon resize changes it without an event kvmdeck re-reads XML on)."""
        self._polls += 1
        return (
            "memsize" in columns
            and "mem" not in columns
            and self._procs_visible
            and self._polls % BALLOON_EVERY != 0
        )

    def _memory(self, raws: list[RawGuest], asked: bool) -> list[RawGuest]:
        out = []
        misses = 0
        for r in raws:
            if r.state not in ACTIVE_STATES:  # no QEMU process
                self._pids.pop(r.uuid, None)
                out.append(r)
            elif asked:  # this poll asked libvirt: remember its current size
                self._cur_kib[r.uuid] = r.balloon_current
                out.append(r)
            else:
                pid = self._qemu_pid(r.uuid)
                rss = rss_kib(pid) if pid is not None else None
                if rss is None:  # a new guest's pid file, a restart: read it again next poll
                    self._pids.pop(r.uuid, None)
                    misses += 1
                info = self.info.get(r.uuid)
                cur = self._cur_kib.get(r.uuid) or (info.cur_mem_kib if info else None)
                out.append(dataclasses.replace(r, balloon_current=cur, balloon_rss=rss))
        if not asked:
            self._misses = self._misses + 1 if misses else 0
            if self._misses >= 3:  # QEMU's processes are not readable here: ask libvirt
                self._procs_visible = False
        return out

    def _qemu_pid(self, uuid: str) -> int | None:
        if uuid not in self._pids:
            info = self.info.get(uuid)
            try:
                text = (QEMU_PID_DIR / f"{info.name}.pid").read_text() if info else ""
                self._pids[uuid] = int(text.strip())
            except (OSError, ValueError):
                self._pids[uuid] = None
        return self._pids[uuid]

    # -- events ----------------------------------------------------------------------------
    def note_event(self, uuid: str, kind: str, wall: float) -> None:
        """A lifecycle event: re-read the guest's XML next poll; remember when it started."""
        if kind == "started":
            self.started_wall[uuid] = wall
        self._uptime_base.pop(uuid, None)
        self._pids.pop(uuid, None)
        self._cur_kib.pop(uuid, None)
        self.mark_stale(uuid)
