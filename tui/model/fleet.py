"""The one state store: hosts → guests, with link state, samples, facts, history and events.

Sources write it through pure ``apply_*`` methods, which return a :class:`Change` saying what
changed; screens read it and hold no canonical state of their own. It is not thread-safe on
purpose: only the event loop's thread writes it (workers post results, the loop applies them).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from tui.model.addresses import AddressMap, GuestAddress
from tui.model.domain import DomainInfo
from tui.model.events import LifecycleEvent
from tui.model.guest import GuestSample, GuestState
from tui.model.host import HostSample, PollResult, RemoteHostSample
from tui.model.ids import GuestKey, HostId
from tui.model.link import LinkReport, LinkState
from tui.model.rates import History
from tui.util import terminal_safe

GUEST_EVENT_LINES = 200
FLEET_EVENT_LINES = 500

# What a lifecycle event says about the state, before the next poll confirms it.
EVENT_STATE = {
    "started": GuestState.RUNNING,
    "resumed": GuestState.RUNNING,
    "suspended": GuestState.PAUSED,
    "stopped": GuestState.SHUTOFF,
    "shutdown": GuestState.SHUTDOWN,
    "crashed": GuestState.CRASHED,
    "pmsuspended": GuestState.PMSUSPENDED,
}

# A transient state kvmdeck asked for and shows until the guest gets there (or the deadline).
PENDING_SHUTDOWN = "shutting down"


@dataclass
class Guest:
    key: GuestKey
    sample: GuestSample
    info: DomainInfo | None = None
    error: str = ""  # why its facts could not be read (odd XML), shown on its row
    history: History = field(default_factory=History)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=GUEST_EVENT_LINES))
    # What kvmdeck asked of the guest and is waiting for ("shutting down"), shown as its state
    # until a poll or an event shows it done, or ``pending_until`` (monotonic) passes.
    pending: str = ""
    pending_until: float | None = None
    addresses: tuple[GuestAddress, ...] = ()  # IPs (agent, lease or ARP), its own cadence

    @property
    def name(self) -> str:
        return self.sample.name

    def settle_pending(self) -> bool:
        """Drop the pending state once the sample shows it reached (True: it changed)."""
        if self.pending == PENDING_SHUTDOWN and not self.sample.active:
            self.pending, self.pending_until = "", None
            return True
        return False


@dataclass
class Host:
    id: HostId
    label: str
    uri_text: str = ""  # the URI as shown (a test-driver path shortened, no query)
    hostname: str = ""  # the name libvirt reports (the test driver: this machine's, for all)
    state: LinkState = LinkState.CONNECTING
    report: LinkReport | None = None
    since: float = field(default_factory=time.monotonic)  # when the state last changed
    guests: dict[str, Guest] = field(default_factory=dict)  # uuid -> guest, in poll order
    remote: RemoteHostSample | None = None
    polled_at: float | None = None  # monotonic time of the last applied poll
    seq: int = 0  # the newest poll applied
    polls: int = 0
    latency_s: float | None = None  # how long the last applied poll took (the hosts screen)

    @property
    def up(self) -> bool:
        return self.state is LinkState.UP

    def stale_for(self, now: float | None = None) -> float | None:
        """Seconds the guests' figures have been frozen: since the last poll applied, not since
        the link state changed (a host that stopped answering 13 s ago was declared lost after
        10 s: its figures are 13 s old, not 3). None while the host is up."""
        if self.up or self.polled_at is None:
            return None
        return max(0.0, (time.monotonic() if now is None else now) - self.polled_at)


@dataclass(frozen=True)
class Change:
    """What one ``apply_*`` changed. Empty sets mean nothing of that kind."""

    hosts: frozenset[HostId] = frozenset()
    added: frozenset[GuestKey] = frozenset()
    removed: frozenset[GuestKey] = frozenset()
    changed: frozenset[GuestKey] = frozenset()
    link: bool = False  # a host's link state or label changed
    local: bool = False  # the local host sample changed
    # Hosts polled with no guest's row changed (same samples, facts and host figures): only
    # their history got a point and their latency changed. Not in ``hosts``: the guest table
    # and the hosts bar have nothing to redo for them (unless the table shows CPU history).
    polled: frozenset[HostId] = frozenset()

    @classmethod
    def merge(cls, changes: list[Change]) -> Change:
        """Several changes as one (the UI renders once per frame)."""
        return cls(
            hosts=frozenset().union(*(c.hosts for c in changes)),
            added=frozenset().union(*(c.added for c in changes)),
            removed=frozenset().union(*(c.removed for c in changes)),
            changed=frozenset().union(*(c.changed for c in changes)),
            link=any(c.link for c in changes),
            local=any(c.local for c in changes),
            polled=frozenset().union(*(c.polled for c in changes)),
        )

    @property
    def structure(self) -> bool:
        return bool(self.added or self.removed)

    def __bool__(self) -> bool:
        return bool(
            self.hosts or self.added or self.removed or self.changed or self.local or self.polled
        )


def _starting(g: Guest) -> bool:
    """A guest the fleet still shows as not running: QEMU starts with its CPUs stopped, and
    libvirt 9 reports the ``cont`` that lets them run (RESUMED, unpaused) *before* STARTED
    (booted). That resume is part of the start, not a resume from pause: not logged."""
    return not g.sample.active


class Fleet:
    def __init__(self) -> None:
        self.hosts: dict[HostId, Host] = {}
        self.events: deque[str] = deque(maxlen=FLEET_EVENT_LINES)
        self.logged = 0  # lines ever logged (a screen writes the ones it has not written)
        self.local: HostSample | None = None
        self.local_history = History()

    # -- reading -------------------------------------------------------------------------
    def host(self, host: HostId) -> Host:
        return self.hosts[host]

    def guest(self, key: GuestKey) -> Guest | None:
        h = self.hosts.get(key.host)
        return h.guests.get(key.uuid) if h is not None else None

    def guests(self) -> Iterator[Guest]:
        for h in self.hosts.values():
            yield from h.guests.values()

    def labels(self) -> dict[HostId, str]:
        return {h: host.label for h, host in self.hosts.items()}

    def find(self, name: str, host: HostId | None = None) -> Guest | None:
        for g in self.guests():
            if g.name == name and (host is None or g.key.host == host):
                return g
        return None

    # -- writing -------------------------------------------------------------------------
    def add_host(self, host: HostId, label: str, uri_text: str = "") -> Change:
        self.hosts.setdefault(host, Host(host, label, uri_text or str(host)))
        return Change(hosts=frozenset({host}), link=True)

    def apply_link(
        self, host: HostId, report: LinkReport, label: str | None = None, hostname: str = ""
    ) -> Change:
        """A host's link state. ``label`` renames the host (tests); ``hostname`` is what
        libvirt reports, kept beside the label (never instead of it: the test driver reports
        this machine's name for every host)."""
        h = self.hosts[host]
        if report.state is not h.state:
            h.since = time.monotonic()
        h.state = report.state
        h.report = report
        if label:
            h.label = label
        if hostname:
            h.hostname = hostname
        return Change(hosts=frozenset({host}), link=True)

    def apply_poll(self, host: HostId, seq: int, result: PollResult) -> Change:
        """One poll's samples. A result older than the one applied last is ignored."""
        h = self.hosts[host]
        if seq <= h.seq:
            return Change()
        h.seq = seq
        h.polls += 1
        h.polled_at = time.monotonic()
        h.latency_s = result.elapsed_s
        host_changed = h.remote != result.remote_host  # a remote host's own figures
        h.remote = result.remote_host
        added: set[GuestKey] = set()
        changed: set[GuestKey] = set()
        seen: set[str] = set()
        for s in result.samples:
            seen.add(s.uuid)
            g = h.guests.get(s.uuid)
            if g is None:
                key = GuestKey(host, s.uuid)
                g = h.guests[s.uuid] = Guest(key, s)
                added.add(key)
            elif g.sample is not s and g.sample != s:
                changed.add(g.key)
            g.sample = s
            info, error = result.info.get(s.uuid, g.info), result.errors.get(s.uuid, "")
            if g.settle_pending() or (info is not g.info and info != g.info) or error != g.error:
                changed.add(g.key)
            g.info, g.error = info, error
            g.history.cpu.append(s.cpu_pct or 0.0)
            g.history.mem.append(float(s.rss_kib or s.mem_cur_kib or 0))
            g.history.disk.append((s.rd_bps or 0.0) + (s.wr_bps or 0.0))
            g.history.net.append((s.rx_bps or 0.0) + (s.tx_bps or 0.0))
        removed = {GuestKey(host, u) for u in h.guests if u not in seen}
        for key in removed:
            del h.guests[key.uuid]
        if not (added or removed or changed or host_changed):
            return Change(polled=frozenset({host}))  # the same figures: no row to redo
        return Change(
            hosts=frozenset({host}),
            added=frozenset(added),
            removed=frozenset(removed),
            changed=frozenset(changed),
        )

    def apply_lifecycle(self, host: HostId, ev: LifecycleEvent) -> Change:
        """Show the new state at once; the next poll confirms it."""
        h = self.hosts[host]
        key = GuestKey(host, ev.uuid)
        g = h.guests.get(ev.uuid)
        if not (ev.kind == "resumed" and g is not None and _starting(g)):
            self.log(f"{ev.name}: {ev.text}", ev.wall, key)
        if g is None:
            return Change(hosts=frozenset({host}))
        if ev.kind == "undefined" and not g.sample.active:
            del h.guests[ev.uuid]
            return Change(hosts=frozenset({host}), removed=frozenset({key}))
        state = EVENT_STATE.get(ev.kind)
        if state is None or state == g.sample.state_code:
            return Change(hosts=frozenset({host}))
        g.sample = dataclasses.replace(g.sample, state=state.label, state_code=int(state))
        g.settle_pending()
        return Change(hosts=frozenset({host}), changed=frozenset({key}))

    def set_pending(
        self, key: GuestKey, what: str, for_s: float, now: float | None = None
    ) -> Change:
        """Mark a guest as on its way to ``what`` (e.g. :data:`PENDING_SHUTDOWN`) for at most
        ``for_s`` seconds; a poll or event that shows it got there clears the mark."""
        g = self.guest(key)
        if g is None:
            return Change()
        g.pending = what
        g.pending_until = (time.monotonic() if now is None else now) + for_s
        return Change(hosts=frozenset({key.host}), changed=frozenset({key}))

    def clear_pending(self, key: GuestKey) -> Change:
        g = self.guest(key)
        if g is None or not g.pending:
            return Change()
        g.pending, g.pending_until = "", None
        return Change(hosts=frozenset({key.host}), changed=frozenset({key}))

    def overdue(self, now: float | None = None) -> list[Guest]:
        """Guests whose pending state outlived its deadline (still marked; clear them)."""
        t = time.monotonic() if now is None else now
        return [
            g
            for g in self.guests()
            if g.pending and g.pending_until is not None and g.pending_until <= t
        ]

    def apply_addresses(self, host: HostId, result: AddressMap) -> Change:
        """One address run of ``host``: guests missing from it (not running) have none."""
        h = self.hosts.get(host)
        if h is None:
            return Change()
        changed: set[GuestKey] = set()
        for uuid, g in h.guests.items():
            new = tuple(result.get(uuid, ()))
            if new != g.addresses:
                g.addresses = new
                changed.add(g.key)
        return Change(hosts=frozenset({host}), changed=frozenset(changed)) if changed else Change()

    def apply_host_sample(self, sample: HostSample) -> Change:
        self.local = sample
        h = self.local_history
        h.cpu.append(sample.cpu_total)
        used = sample.mem_total - sample.mem_available
        h.mem.append(100.0 * used / sample.mem_total if sample.mem_total else 0.0)
        h.disk.append((sample.disk_read_bps or 0.0) + (sample.disk_write_bps or 0.0))
        h.net.append(sum((n.rx_bps or 0.0) + (n.tx_bps or 0.0) for n in sample.nets))
        return Change(local=True)

    def log(self, text: str, wall: float | None = None, key: GuestKey | None = None) -> str:
        """One event-log line (plain text, terminal-safe); also kept with the guest it concerns."""
        text = terminal_safe(text)  # names, errors and device strings from outside
        stamp = time.strftime("%H:%M:%S", time.localtime(wall if wall is not None else time.time()))
        line = f"{stamp} {text}"
        self.events.append(line)
        self.logged += 1
        if key is not None:
            g = self.guest(key)
            if g is not None:
                g.events.append(line)
        return line
