"""``kvmdeck stats``: host and guest samples without the TUI, like ``virt-top -b``.

Columns use the TUI's names. Units: rates in bytes per second, memory in KiB, CPU in percent
(``cpu`` of the guest's own vCPUs, ``host_cpu`` of the whole host), uptime in seconds. A figure
libvirt does not report is empty in CSV and null in JSON, never 0. Each row names its host three
ways: ``host`` (the hostname libvirt reports), ``host_label`` (the ``[[hosts]] name`` from the
config, else a remote URI's host, else the URI as shown) and ``uri`` (as given; libvirt's own URI
when none was). Text rows are sorted by host label, then guest name.
``ips`` lists a running guest's IP addresses (the guest agent's, else the DHCP leases of libvirt
networks, else ARP; tui/adapters/libvirt/addresses.py): null when they could not be read in
time or the guest is not running. libvirt answers the agent only on a read-write connection:
stats opens one for that alone (unless ``readonly`` is set), and falls back to leases and ARP
on its read-only connection when it cannot.

Several hosts are opened at once, each in a daemon thread. A host that fails is reported on
stderr with why and what to do; one that does not answer a connect or a poll within
:data:`DEADLINE_S` is reported as "no answer" and left behind, and the run ends on time: its
thread is a daemon nobody waits for, its connection never closed (:func:`_abandon`).

Exit codes: 0 every host printed; 3 some host failed but at least one was printed; 1 no host
could be read; 2 usage error or an invalid URI (even when other hosts were printed); 130 Ctrl+C.
"""

from __future__ import annotations

import csv
import ctypes
import functools
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

import libvirt
import psutil

from tui.adapters.libvirt.addresses import AddressReader
from tui.adapters.libvirt.connection import (
    ConnectFailed,
    FailureCause,
    HostLink,
    LinkFailure,
    display_uri,
    failure_of,
    no_answer,
    open_connection,
)
from tui.adapters.libvirt.session import HostSession
from tui.adapters.local.hoststats import HostSampler
from tui.config import Settings
from tui.model.addresses import AddressMap
from tui.model.host import PollResult
from tui.util import terminal_safe

DEADLINE_S = 10.0  # s: a connect or a poll that takes longer is "no answer" and left behind
CLOSE_WAIT_S = 2.0  # s: at exit, how long to wait for the connections to close

EXIT_OK = 0
EXIT_ALL_FAILED = 1
EXIT_USAGE = 2  # bad options, config error, invalid URI
EXIT_SOME_FAILED = 3
EXIT_INTERRUPTED = 130

GUEST_FIELDS = [
    "time",
    "host",
    "host_label",
    "uri",
    "name",
    "uuid",
    "state",
    "vcpus",
    "cpu",
    "host_cpu",
    "mem_cur_kib",
    "mem_max_kib",
    "rss_kib",
    "guest_used_kib",
    "disk_rd_bps",
    "disk_wr_bps",
    "net_rx_bps",
    "net_tx_bps",
    "uptime_s",
    "ips",
]
ALL_COLUMNS = ("cpu", "mem", "disk", "net")

T = TypeVar("T")


@dataclass
class _Host:
    uri: str | None
    label: str
    real_uri: str = ""  # for the rows: the URI as given, or libvirt's own for the default
    session: HostSession | None = None
    failure: LinkFailure | None = None
    polled: bool = False  # at least one sample of this host was printed
    rw: Any = None  # a read-write connection for the guest agent (False: none to be had)
    reader: AddressReader | None = None
    busy: bool = False  # a call on its connections was left running: never close them

    @property
    def name(self) -> str:
        shown = self.uri or "libvirt default"
        return shown if self.label == display_uri(self.uri) else f"{self.label} ({shown})"


def run_in_threads(
    calls: Sequence[Callable[[], T]], deadline_s: float, name: str
) -> list[tuple[bool, T | BaseException | None]]:
    """Run each call in its own daemon thread and wait at most ``deadline_s`` for all of them.

    Returns one ``(done, value)`` per call: ``(True, result)``, ``(True, exception)``, or
    ``(False, None)`` for a call still running at the deadline. Nobody ever joins a thread
    that did not finish: it is a daemon and dies with the process.
    """
    answers: queue.Queue[tuple[int, T | BaseException]] = queue.Queue()

    def work(i: int, call: Callable[[], T]) -> None:
        try:
            answers.put((i, call()))
        except BaseException as exc:  # reported to the caller, never lost in the thread
            answers.put((i, exc))

    for i, call in enumerate(calls):
        threading.Thread(target=work, args=(i, call), name=f"{name}-{i}", daemon=True).start()
    out: list[tuple[bool, T | BaseException | None]] = [(False, None)] * len(calls)
    end = time.monotonic() + deadline_s
    for _ in calls:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            i, value = answers.get(timeout=left)
        except queue.Empty:
            break
        out[i] = (True, value)
    return out


def _open(host: _Host, deadline_s: float, gave_up: threading.Event) -> Callable[[], HostSession]:
    def call() -> HostSession:
        link = HostLink(host.uri, readonly=True)
        link.connect()
        if gave_up.is_set():  # answered after the deadline: nobody will use it
            link.close()
            raise TimeoutError(f"answered after {deadline_s:g} s")
        if not host.real_uri and link.conn is not None:
            try:
                host.real_uri = link.conn.getURI()
            except libvirt.libvirtError:
                host.real_uri = ""
        return HostSession(link, host_cpus=psutil.cpu_count() or 1)

    return call


# Hosts left with a call stuck on their connections: never closed nor freed (one reference never
# given back, so not even by the interpreter at exit: a close frees what the call still uses).
_abandoned: list[_Host] = []
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_abandoned))


def _abandon(host: _Host) -> None:
    host.busy = True
    _abandoned.append(_Host(host.uri, host.label, session=host.session, rw=host.rw))
    host.session, host.rw, host.reader = None, None, None


def _close_later(session: HostSession) -> threading.Thread:
    """Close a connection in a daemon thread (a host that just failed may still be slow)."""
    closer = threading.Thread(target=session.link.close, name="stats-close", daemon=True)
    closer.start()
    return closer


def _close_all(hosts: list[_Host], wait_s: float = CLOSE_WAIT_S) -> None:
    """Close the healthy connections cleanly, waiting at most ``wait_s`` in all."""
    list(map(_abandon, [h for h in hosts if h.busy]))  # stuck: left unclosed
    closers = [_close_later(h.session) for h in hosts if h.session is not None]
    for h in hosts:
        if h.rw:
            rw, h.rw = h.rw, None
            closer = threading.Thread(target=rw.close, name="stats-close-rw", daemon=True)
            closer.start()
            closers.append(closer)
    end = time.monotonic() + wait_s
    for closer in closers:
        closer.join(max(0.0, end - time.monotonic()))


def _fail(host: _Host, failure: LinkFailure, err: TextIO, stuck: bool = False) -> None:
    """Report ``host`` and leave it behind: closed, or unclosed when a call on it is stuck."""
    host.failure = failure
    if stuck or host.busy:
        _abandon(host)
    if host.session is not None:
        _close_later(host.session)
        host.session = None
    text = failure.text()
    named = host.label == display_uri(host.uri) and (host.uri or "libvirt default") in text
    line = f"kvmdeck stats: {text if named else f'{host.name}: {text}'}"
    print(terminal_safe(line), file=err)
    err.flush()


def _connect_all(hosts: list[_Host], deadline_s: float, err: TextIO) -> None:
    gave_up = threading.Event()
    results = run_in_threads([_open(h, deadline_s, gave_up) for h in hosts], deadline_s, "connect")
    gave_up.set()
    for host, (done, value) in zip(hosts, results, strict=True):
        if not done:
            _fail(host, no_answer(host.uri, deadline_s), err)
        elif isinstance(value, ConnectFailed):
            _fail(host, value.failure, err)
        elif isinstance(value, HostSession):
            host.session = value
            host.real_uri = host.uri or host.real_uri
        else:
            raise value if isinstance(value, BaseException) else RuntimeError(value)


def _poll_all(hosts: list[_Host], deadline_s: float, err: TextIO) -> list[tuple[_Host, PollResult]]:
    live = [(h, h.session) for h in hosts if h.session is not None]
    calls = [functools.partial(session.poll, ALL_COLUMNS) for _, session in live]
    got: list[tuple[_Host, PollResult]] = []
    results = run_in_threads(calls, deadline_s, "poll")
    for (host, _), (done, value) in zip(live, results, strict=True):
        if not done:
            _fail(host, no_answer(host.uri, deadline_s), err, stuck=True)
        elif isinstance(value, libvirt.libvirtError):
            _fail(host, failure_of(host.uri, value), err)
        elif isinstance(value, PollResult):
            got.append((host, value))
        else:
            raise value if isinstance(value, BaseException) else RuntimeError(value)
    return got


def _addresses(
    host: _Host, session: HostSession, uuids: tuple[str, ...], agent: bool
) -> AddressMap:
    """The guests' addresses: on a read-write connection when one can be had (the agent
    needs it), else on the read-only one (leases and ARP only). Blocking."""
    if host.rw is None:
        host.rw = False
        if agent and not session.link.is_test:
            try:
                host.rw = open_connection(host.uri, readonly=False)
            except ConnectFailed:
                host.rw = False
    conn = host.rw or session.link.conn
    if host.reader is None:
        host.reader = AddressReader(agent=bool(host.rw))
    return host.reader.read(conn, uuids)


def _addresses_all(
    polled: list[tuple[_Host, PollResult]], deadline_s: float, agent: bool
) -> dict[int, AddressMap]:
    """id(host) -> its guests' addresses; a host that does not answer in time has none."""
    jobs = []
    for host, result in polled:
        running = tuple(g.uuid for g in result.samples if g.running)
        if host.session is not None and running:
            jobs.append((host, functools.partial(_addresses, host, host.session, running, agent)))
    got = run_in_threads([call for _h, call in jobs], deadline_s, "addresses")
    for (host, _call), (done, _value) in zip(jobs, got, strict=True):
        host.busy = host.busy or not done  # its address call runs on: never close it
    return {
        id(host): value
        for (host, _call), (done, value) in zip(jobs, got, strict=True)
        if done and isinstance(value, dict)
    }


def _ips(addresses: AddressMap | None, uuid: str) -> list[str] | None:
    if addresses is None or uuid not in addresses:
        return None
    return [a.addr for a in addresses[uuid]]


def short_label(uri: str | None) -> str:
    """A host as the operator names it: a remote URI's host (with its port when the URI has
    one: ``qemu+ssh://root@kvm1/system?keyfile=…`` -> ``kvm1``), a local URI as shown."""
    try:
        parts = urlsplit(uri or "")
        host, port = parts.hostname, parts.port
    except ValueError:  # malformed: shown as given
        return display_uri(uri)
    if not host:
        return display_uri(uri)
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def host_labels(uris: list[str | None], settings: Settings) -> list[str]:
    """The config's ``[[hosts]] name`` for a URI, else the URI as the TUI shows it."""
    names = {h.uri: h.name for h in settings.hosts if h.name}
    return [names.get(u or "", short_label(u)) for u in uris]


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _row(
    now: float, host: _Host, hostname: str, g: Any, ips: list[str] | None = None
) -> dict[str, Any]:
    return {
        "time": round(now, 3),
        "host": hostname,
        "host_label": host.label,
        "uri": host.real_uri,
        "name": g.name,
        "uuid": g.uuid,
        "state": g.state,
        "vcpus": g.vcpus,
        "cpu": _r(g.cpu_pct),
        "host_cpu": _r(g.cpu_host_pct),
        "mem_cur_kib": g.mem_cur_kib,
        "mem_max_kib": g.mem_max_kib,
        "rss_kib": g.rss_kib,
        "guest_used_kib": g.guest_used_kib,
        "disk_rd_bps": _r(g.rd_bps),
        "disk_wr_bps": _r(g.wr_bps),
        "net_rx_bps": _r(g.rx_bps),
        "net_tx_bps": _r(g.tx_bps),
        "uptime_s": _r(g.uptime_s),
        "ips": ips,
    }


def exit_code(hosts: list[_Host]) -> int:
    """0 every host printed, 3 some host failed but some host was printed, 1 no host was
    printed, 2 a host's URI is invalid (a usage error, whatever the other hosts did)."""
    if any(h.failure and h.failure.cause is FailureCause.INVALID_URI for h in hosts):
        return EXIT_USAGE
    if not any(h.polled for h in hosts):
        return EXIT_ALL_FAILED
    return EXIT_SOME_FAILED if any(h.failure for h in hosts) else EXIT_OK


def run_stats(
    uris: list[str | None],
    settings: Settings,
    as_json: bool,
    as_csv: bool,
    count: int,
    interval: float,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    deadline_s: float = DEADLINE_S,
) -> int:
    if count < 1 or interval <= 0:
        print("kvmdeck stats: --count must be ≥ 1 and --interval > 0.", file=err)
        return EXIT_USAGE
    hosts = [_Host(u, label) for u, label in zip(uris, host_labels(uris, settings), strict=True)]
    try:
        _connect_all(hosts, deadline_s, err)
        _poll_all(hosts, deadline_s, err)  # rates need two samples: prime once
        if not any(h.session for h in hosts):
            return exit_code(hosts)
        sampler = HostSampler(settings.show_loopback)
        sampler.sample()
        writer = None
        if as_csv:
            writer = csv.DictWriter(out, fieldnames=GUEST_FIELDS)
            writer.writeheader()
        for n in range(count):
            time.sleep(interval)
            polled = _poll_all(hosts, deadline_s, err)
            if not polled:
                break
            addresses = _addresses_all(polled, deadline_s, not settings.readonly)
            host = sampler.sample()
            now = time.time()
            rows: list[dict[str, Any]] = []
            for h, result in polled:
                h.polled = True
                hostname = h.session.link.hostname if h.session else ""
                found = addresses.get(id(h))
                rows += [_row(now, h, hostname, g, _ips(found, g.uuid)) for g in result.samples]
            if writer is not None:
                writer.writerows([_safe({**r, "ips": " ".join(r["ips"] or ())}) for r in rows])
            elif as_json:
                host_d = {
                    "hostname": host.hostname,
                    "cpu": round(host.cpu_total, 2),
                    "per_cpu": list(host.per_cpu),
                    "mem_total": host.mem_total,
                    "mem_available": host.mem_available,
                    "swap_used": host.swap_used,
                    "load": list(host.load),
                    "disk_read_bps": _r(host.disk_read_bps),
                    "disk_write_bps": _r(host.disk_write_bps),
                    "net": {
                        x.name: {"rx_bps": _r(x.rx_bps), "tx_bps": _r(x.tx_bps)} for x in host.nets
                    },
                }
                out.write(
                    json.dumps(
                        {"time": round(now, 3), "sample": n + 1, "host": host_d, "guests": rows}
                    )
                    + "\n"
                )
            else:
                out.write(
                    f"{time.strftime('%H:%M:%S')} host {terminal_safe(host.hostname)} cpu {host.cpu_total:.1f}% "
                    f"load {host.load[0]:.2f} mem avail {host.mem_available // 1048576} MiB\n"
                )
                rows = sorted(map(_safe, rows), key=lambda r: (r["host_label"], r["name"]))
                w = max([16, *(len(r["host_label"]) for r in rows)])
                out.write(
                    f"{'host_label':<{w}} {'name':<24} {'state':<10} {'cpu':>6} {'mem_cur_kib':>12} {'disk_rd_bps':>12} {'disk_wr_bps':>12} {'net_rx_bps':>11} {'net_tx_bps':>11} ips\n"
                )
                for r in rows:
                    out.write(
                        f"{r['host_label']:<{w}} {r['name']:<24} {r['state']:<10} {_fmt(r['cpu']):>6} {_fmt(r['mem_cur_kib']):>12} "
                        f"{_fmt(r['disk_rd_bps']):>12} {_fmt(r['disk_wr_bps']):>12} {_fmt(r['net_rx_bps']):>11} {_fmt(r['net_tx_bps']):>11} {' '.join(r['ips'] or ()) or '-'}\n"
                    )
            out.flush()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        _close_all(hosts)
    return exit_code(hosts)


def _safe(row: dict[str, Any]) -> dict[str, Any]:
    """A row for text and CSV: names, states and addresses terminal-safe (JSON escapes
    control characters itself and keeps the exact names)."""
    return {
        k: terminal_safe(v)
        if isinstance(v, str)
        else [terminal_safe(x) for x in v]
        if isinstance(v, list)
        else v
        for k, v in row.items()
    }


def _fmt(v: object) -> str:
    return "-" if v is None else str(v)
