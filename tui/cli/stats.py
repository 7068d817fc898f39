"""``kvmdeck stats``: host and guest samples without the TUI, like ``virt-top -b``.

Columns use the TUI's names. Units: rates in bytes per second, memory in KiB, CPU in percent
(``cpu`` of the guest's own vCPUs, ``host_cpu`` of the whole host), uptime in seconds. A figure
libvirt does not report is empty in CSV and null in JSON, never 0.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from typing import Any, TextIO

import psutil

from tui.adapters.libvirt.connection import ConnectFailed, HostLink
from tui.adapters.libvirt.session import HostSession
from tui.adapters.local.hoststats import HostSampler
from tui.config import Settings

GUEST_FIELDS = [
    "time",
    "host",
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
]
ALL_COLUMNS = ("cpu", "mem", "disk", "net")


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def run_stats(
    uris: list[str | None],
    settings: Settings,
    as_json: bool,
    as_csv: bool,
    count: int,
    interval: float,
    out: TextIO = sys.stdout,
) -> int:
    if count < 1 or interval <= 0:
        print("kvmdeck stats: --count must be ≥ 1 and --interval > 0.", file=sys.stderr)
        return 2
    sessions = []
    for uri in uris:
        link = HostLink(uri, readonly=True)
        try:
            link.connect()
        except ConnectFailed as exc:
            print(f"kvmdeck stats: {exc}", file=sys.stderr)
            return 1
        sessions.append(HostSession(link, host_cpus=psutil.cpu_count() or 1))
    sampler = HostSampler(settings.show_loopback)
    writer = None
    if as_csv:
        writer = csv.DictWriter(out, fieldnames=GUEST_FIELDS)
        writer.writeheader()
    # Rates need two samples: prime once, then print `count` samples.
    for s in sessions:
        s.poll(ALL_COLUMNS)
    sampler.sample()
    try:
        for n in range(count):
            time.sleep(interval)
            host = sampler.sample()
            now = time.time()
            rows: list[dict[str, Any]] = []
            for s in sessions:
                for g in s.poll(ALL_COLUMNS).samples:
                    rows.append(
                        {
                            "time": round(now, 3),
                            "host": s.link.hostname,
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
                        }
                    )
            if writer is not None:
                writer.writerows(rows)
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
                    f"{time.strftime('%H:%M:%S')} host {host.hostname} cpu {host.cpu_total:.1f}% "
                    f"load {host.load[0]:.2f} mem avail {host.mem_available // 1048576} MiB\n"
                )
                out.write(
                    f"{'name':<24} {'state':<10} {'cpu':>6} {'mem_cur_kib':>12} {'disk_rd_bps':>12} {'disk_wr_bps':>12} {'net_rx_bps':>11} {'net_tx_bps':>11}\n"
                )
                for r in rows:
                    out.write(
                        f"{r['name']:<24} {r['state']:<10} {_fmt(r['cpu']):>6} {_fmt(r['mem_cur_kib']):>12} "
                        f"{_fmt(r['disk_rd_bps']):>12} {_fmt(r['disk_wr_bps']):>12} {_fmt(r['net_rx_bps']):>11} {_fmt(r['net_tx_bps']):>11}\n"
                    )
            out.flush()
    except KeyboardInterrupt:
        return 130
    finally:
        for s in sessions:
            s.link.close()
    return 0


def _fmt(v: object) -> str:
    return "-" if v is None else str(v)
