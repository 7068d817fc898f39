"""P2: libvirtd CPU caused by kvmdeck at 1 s refresh, beside ``virsh domstats`` once a second.

libvirtd serves every client at once, so the clients take turns: each round has an idle
window (no client: the baseline), a kvmdeck window and a virsh window, in rotating order.
"Caused by" is the window's libvirtd CPU minus that round's idle window; the figures are
medians over the rounds. kvmdeck runs in tmux with its libvirt client RPC log on, which counts
every request it sends. A headless run (bench/tickcount.py, run_test) counts bulk stats calls
per refresh tick: ``HostSession.calls`` against the ticks the table received. Then each stat
group's own cost (bench/p2_groups.py), which says where the rest goes.
virt-manager, the third peer, is measured only where it is installed (it is not installed here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections import Counter
from typing import Any

from bench import commands as cmd
from bench import p2_groups, rpclog
from bench.frames import shows_all
from bench.guests import Services
from bench.procstat import CpuWindow
from bench.results import Row, Section, median, quiet, ratio, verdict
from bench.subproc import run_bounded
from bench.tmuxrun import TmuxRun
from testbed.bed import Guest

ROUNDS = 4
WINDOW_S = 8.0
SETTLE_S = 2.0
TICK_SECONDS = 10.0
TARGET_VS_VIRSH = 0.43


class VirshLoop:
    """``virsh domstats`` (every stat group) once a second, each run waited for, in a thread."""

    def __init__(self) -> None:
        virsh = shutil.which("virsh") or "virsh"
        self.argv = [virsh, "-c", cmd.SYSTEM_URI, "domstats"]
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            subprocess.run(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.runs += 1
            self._stop.wait(1.0)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _window(libvirtd: int, seconds: float) -> float:
    win = CpuWindow({"libvirtd": libvirtd}, own_only=frozenset({"libvirtd"}))
    win.start()
    time.sleep(seconds)
    return win.stop()[1]["libvirtd"]


def _kvmdeck_window(
    libvirtd: int, names: list[str], seconds: float, log_index: int
) -> tuple[float, Counter[str]]:
    log = cmd.workdir() / f"p2-rpc-{log_index}.log"
    env = cmd.app_env() | rpclog.log_env(log)
    with TmuxRun(f"p2-kvmdeck-{log_index}", cmd.kvmdeck_argv(), env, cwd=str(cmd.ROOT)) as tm:
        tm.wait_for(shows_all(names), 30)
        time.sleep(SETTLE_S)
        t0 = rpclog.utc_now()
        pct = _window(libvirtd, seconds)
        t1 = rpclog.utc_now()
    counts = rpclog.count(log, t0, t1)
    log.unlink(missing_ok=True)
    return pct, counts


def _virsh_window(libvirtd: int, seconds: float) -> tuple[float, int]:
    loop = VirshLoop()
    loop.start()
    try:
        time.sleep(SETTLE_S)
        runs0 = loop.runs
        pct = _window(libvirtd, seconds)
        return pct, loop.runs - runs0
    finally:
        loop.stop()


def tick_count(seconds: float = TICK_SECONDS) -> dict[str, Any]:
    log = cmd.workdir() / "p2-tickcount-rpc.log"
    argv = [cmd.PYTHON, "-m", "bench.tickcount", "--seconds", f"{seconds:g}"]
    env = cmd.env_with(cmd.app_env() | rpclog.log_env(log))
    rc, out, err = run_bounded(argv, timeout_s=seconds + 60, env=env, cwd=str(cmd.ROOT))
    try:
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"rc={rc}: {(err or out).strip()[-300:]}", "argv": argv}
    import datetime as dt

    w0, w1 = (dt.datetime.fromisoformat(s) for s in result["window_utc"])
    result["rpcs"] = dict(rpclog.count(log, w0, w1))
    result["argv"] = argv
    log.unlink(missing_ok=True)
    return result


def run(
    svc: Services, guests: list[Guest], rounds: int = ROUNDS, window_s: float = WINDOW_S
) -> Section:
    sec = Section("P2")
    libvirtd = svc.libvirtd_pid
    names = [g.name for g in guests]
    virt_manager = shutil.which("virt-manager")
    sec.commands = [
        f"tmux: {' '.join(cmd.kvmdeck_argv())}  (LIBVIRT_LOG_FILTERS=1:rpc)",
        "virsh -c qemu:///system domstats  (all groups; once a second)",
        f"{cmd.PYTHON} -m bench.tickcount --seconds {TICK_SECONDS:g}  (run_test, headless)",
    ]
    order = ["idle", "kvmdeck", "virsh"]
    rounds_out: list[dict[str, Any]] = []
    rpcs: Counter[str] = Counter()
    rpc_seconds = 0.0
    for r in range(rounds):
        row: dict[str, Any] = {}
        t_round = time.monotonic()
        for mode in order[r % 3 :] + order[: r % 3]:
            if mode == "idle":
                time.sleep(1.0)
                row["idle"] = _window(libvirtd, window_s)
            elif mode == "kvmdeck":
                row["kvmdeck"], counts = _kvmdeck_window(libvirtd, names, window_s, r)
                rpcs += counts
                rpc_seconds += window_s
            else:
                row["virsh"], row["virsh_runs"] = _virsh_window(libvirtd, window_s)
        row["events"] = svc.events_between(t_round, time.monotonic())
        rounds_out.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
    ticks = tick_count()
    groups = p2_groups.group_costs(libvirtd)
    sec.details = {
        "rounds": rounds_out,
        "kvmdeck_rpcs_per_s": {k: round(v / rpc_seconds, 2) for k, v in rpcs.most_common()},
        "tickcount": ticks,
        "group_costs_pct": {k: round(v, 3) for k, v in groups.items()},
        "virt_manager": virt_manager or "not installed",
    }
    used, how = quiet(rounds_out)
    kvm = median([r["kvmdeck"] - r["idle"] for r in used])
    virsh = median([r["virsh"] - r["idle"] for r in used])
    idle = median([r["idle"] for r in used])
    vs_virsh = median([ratio(r["kvmdeck"] - r["idle"], r["virsh"] - r["idle"]) for r in used])
    sec.rows.append(
        Row(
            "P2",
            "libvirtd CPU caused, 1 s refresh",
            f"{kvm:.2f}% (median {len(used)}x{window_s:g} s)",
            f"virsh domstats 1/s: {virsh:.2f}%",
            f"{vs_virsh:.2f}x",
            f"<= {TARGET_VS_VIRSH}x virsh",
            verdict(vs_virsh <= TARGET_VS_VIRSH),
            note=(
                f"libvirtd idle baseline {idle:.2f}% subtracted; {len(names)} bench guests; "
                f"rounds: {how}"
            ),
        )
    )
    sec.rows.append(
        Row(
            "P2",
            "libvirtd CPU caused, 1 s refresh",
            f"{kvm:.2f}%",
            "virt-manager: " + ("installed, not measured" if virt_manager else "not installed"),
        )
    )
    state = groups["state"]
    sec.rows.append(
        Row(
            "P2",
            f"libvirtd CPU per stat group, {len(names)} guests",
            f"state {state:.3f}%",
            ratio=" ".join(f"{k} {v - state:+.3f}" for k, v in groups.items() if k != "state"),
            note=(
                "getAllDomainStats(STATE|group, NOWAIT) once a second, libvirtd's threads' "
                "schedstat, idle subtracted; kvmdeck asks for the groups of the visible columns, "
                "Mem and RSS without the balloon group on a local host"
            ),
        )
    )
    if "error" in ticks:
        sec.rows.append(
            Row(
                "P2",
                "bulk stats calls per tick",
                "not measured",
                verdict="MISS",
                note=str(ticks["error"]),
            )
        )
        return sec
    per_tick = ratio(ticks["bulk_calls"], ticks["ticks"])
    others = sum(v for k, v in ticks["rpcs"].items() if k != "connectGetAllDomainStats")
    bulk_rpcs = ticks["rpcs"].get("connectGetAllDomainStats", 0)
    sec.rows.append(
        Row(
            "P2",
            "bulk stats calls per tick",
            f"{per_tick:.2f} ({ticks['bulk_calls']}/{ticks['ticks']} ticks)",
            ratio=f"{others / max(1, ticks['ticks']):.2f} other RPC/tick",
            target="exactly 1 per tick",
            verdict=verdict(ticks["bulk_calls"] == ticks["ticks"] and bulk_rpcs == ticks["ticks"]),
            note=(
                f"headless run_test {ticks['seconds']} s, {ticks['guests']} guests on the host, "
                f"{ticks['lifecycle_events']} lifecycle events; RPCs: {ticks['rpcs']}"
            ),
        )
    )
    return sec
