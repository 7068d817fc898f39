"""P1: client CPU of kvmdeck at 1 s refresh with 6 TCG guests, beside glances and a bare floor.

All three run at the same time, each in its own tmux server, 160x45. The CPU of each program
(with its children) is read from /proc over the same windows; the figure is the median over
the windows, and so are the ratios (each window's ratio first, then the median).
"""

from __future__ import annotations

import time

from bench import commands as cmd
from bench.frames import glances_ready, shows_all, shows_any
from bench.guests import Services, host_guest_count
from bench.procstat import CpuWindow, vm_hwm_kib
from bench.results import Row, Section, median, quiet, ratio, verdict
from bench.tmuxrun import TmuxRun
from testbed.bed import Guest

WINDOW_S = 20.0
ROUNDS = 3
SETTLE_S = 3.0
TARGET_VS_GLANCES = 0.5
TARGET_VS_FLOOR = 0.8


def run(
    svc: Services, guests: list[Guest], rounds: int = ROUNDS, window_s: float = WINDOW_S
) -> Section:
    sec = Section("P1")
    ok, glances_version = cmd.ensure_glances()
    env = cmd.app_env()
    rows = host_guest_count()  # the floor draws as many rows as kvmdeck will (other clients'
    progs: dict[str, TmuxRun] = {  # guests included)
        "kvmdeck": TmuxRun("p1-kvmdeck", cmd.kvmdeck_argv(), env, cwd=str(cmd.ROOT)),
        "floor": TmuxRun("p1-floor", cmd.floor_argv(rows), env, cwd=str(cmd.ROOT)),
    }
    if ok:
        progs["glances"] = TmuxRun("p1-glances", cmd.glances_argv(), env)
    sec.commands = [f"tmux[{p.width}x{p.height}]: {p.command_line}" for p in progs.values()]
    sec.details["glances"] = glances_version
    names = [g.name for g in guests]
    try:
        for p in progs.values():
            p.start()
        progs["kvmdeck"].wait_for(shows_all(names), 30)
        progs["floor"].wait_for(shows_any([f"floor-guest-{rows - 1}"]), 30)
        if "glances" in progs:
            progs["glances"].wait_for(glances_ready, 30)
        time.sleep(SETTLE_S)
        apps = {name: p.pane_pid for name, p in progs.items() if p.pane_pid}
        servers = {f"tmux:{name}": p.server_pid for name, p in progs.items() if p.server_pid}
        windows: list[dict[str, float]] = []
        for _ in range(rounds):
            win = CpuWindow({**apps, **servers}, own_only=frozenset(servers))
            t0 = time.monotonic()
            win.start()
            time.sleep(window_s)
            wall, pct = win.stop()
            events = svc.events_between(t0, time.monotonic())
            windows.append(
                {k: round(v, 2) for k, v in pct.items()}
                | {"wall_s": round(wall, 2), "events": events}
            )
        kvm_pid = progs["kvmdeck"].pane_pid
        rss_mib = vm_hwm_kib(kvm_pid) / 1024 if kvm_pid else float("nan")
    finally:
        for p in progs.values():
            p.stop()
    sec.details["windows"] = windows
    sec.details["kvmdeck_vmhwm_mib"] = round(rss_mib, 1)
    sec.details["floor_rows"] = rows
    used, how = quiet(windows)
    kvm = median([w["kvmdeck"] for w in used])
    floor = median([w["floor"] for w in used])
    vs_floor = median([ratio(w["kvmdeck"], w["floor"]) for w in used])
    what = f"client CPU, 1 s refresh, {len(guests)} TCG guests"
    span = f"{len(used)}x{window_s:g} s"
    if "glances" in progs:
        glances = median([w["glances"] for w in used])
        vs_glances = median([ratio(w["kvmdeck"], w["glances"]) for w in used])
        sec.rows.append(
            Row(
                "P1",
                what,
                f"{kvm:.2f}% (median {span})",
                f"glances -t 1: {glances:.2f}%",
                f"{vs_glances:.2f}x",
                f"<= {TARGET_VS_GLANCES}x glances",
                verdict(vs_glances <= TARGET_VS_GLANCES),
                note=f"{how}; floor itself {ratio(floor, glances):.2f}x glances",
            )
        )
    else:
        sec.rows.append(
            Row("P1", what, f"{kvm:.2f}%", "glances: not available", note=glances_version)
        )
    sec.rows.append(
        Row(
            "P1",
            what,
            f"{kvm:.2f}%",
            f"bare DataTable floor: {floor:.2f}%",
            f"{vs_floor:.2f}x",
            f"<= {TARGET_VS_FLOOR}x floor",
            verdict(vs_floor <= TARGET_VS_FLOOR),
            note=f"floor: {rows} rows (every guest on the host); {how}",
        )
    )
    return sec
