"""P5: start -> first frame showing guest data, beside glances; kvmdeck's peak RSS.

Each launch is a fresh tmux server running the program; the clock starts just before
``tmux new-session`` and stops when ``capture-pane`` first shows a bench guest's name (kvmdeck)
or glances' process summary. Launches alternate kvmdeck, glances, kvmdeck, ... and the figures
are medians. Peak RSS is VmHWM of kvmdeck after it has run a few refresh ticks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import commands as cmd
from bench.frames import glances_ready, shows_any
from bench.procstat import vm_hwm_kib
from bench.results import Row, Section, median, ratio, verdict
from bench.tmuxrun import TmuxRun
from testbed.bed import Guest

LAUNCHES = 3
TARGET_S = 1.0
TARGET_RSS_MB = 80.0
RUN_AFTER_FRAME_S = 4.0


def launch(
    label: str, argv: list[str], ready: Callable[[str], bool], hold_s: float
) -> tuple[float, int | None]:
    """Seconds to the first frame with data; VmHWM (KiB) after ``hold_s`` more seconds."""
    run = TmuxRun(label, argv, cmd.app_env(), cwd=str(cmd.ROOT))
    try:
        run.start()
        seen = run.wait_for(ready, 30, step_s=0.005)
        elapsed = seen - run.started_at
        rss = None
        if hold_s > 0 and run.pane_pid is not None:
            time.sleep(hold_s)
            rss = vm_hwm_kib(run.pane_pid)
        return elapsed, rss
    finally:
        run.stop()


def run(guests: list[Guest], launches: int = LAUNCHES) -> Section:
    sec = Section("P5")
    compiled = cmd.compile_bytecode()
    ok, version = cmd.ensure_glances()
    names = [g.name for g in guests]
    sec.commands = [f"tmux: {' '.join(cmd.kvmdeck_argv())}"]
    if ok:
        sec.commands.append(f"tmux: {' '.join(cmd.glances_argv())}")
    kvm_s: list[float] = []
    glances_s: list[float] = []
    rss_kib: list[int] = []
    for i in range(launches):
        t, rss = launch(f"p5-kvmdeck-{i}", cmd.kvmdeck_argv(), shows_any(names), RUN_AFTER_FRAME_S)
        kvm_s.append(t)
        if rss is not None:
            rss_kib.append(rss)
        if ok:
            glances_s.append(launch(f"p5-glances-{i}", cmd.glances_argv(), glances_ready, 0)[0])
    sec.details = {
        "kvmdeck_s": [round(v, 3) for v in kvm_s],
        "glances_s": [round(v, 3) for v in glances_s],
        "kvmdeck_vmhwm_kib": rss_kib,
        "glances": version,
        "bytecode": f"compiled first: {compiled}",
    }
    k = median(kvm_s)
    what = "start -> first frame with guest data"
    if glances_s:
        g = median(glances_s)
        sec.rows.append(
            Row(
                "P5",
                what,
                f"{k:.2f} s (median of {launches})",
                f"glances: {g:.2f} s",
                f"{ratio(k, g):.2f}x",
                f"<= {TARGET_S:.1f} s and <= glances",
                verdict(k <= TARGET_S and k <= g),
            )
        )
    else:
        sec.rows.append(
            Row(
                "P5",
                what,
                f"{k:.2f} s",
                "glances: not available",
                target=f"<= {TARGET_S:.1f} s",
                verdict=verdict(k <= TARGET_S),
                note=version,
            )
        )
    peak = max(rss_kib) * 1024 / 1e6 if rss_kib else float("nan")  # MB, as the target says
    sec.rows.append(
        Row(
            "P5",
            "peak RSS (VmHWM)",
            f"{peak:.1f} MB",
            target=f"<= {TARGET_RSS_MB:.0f} MB",
            verdict=verdict(peak <= TARGET_RSS_MB),
            note=f"max over {len(rss_kib)} launches, {RUN_AFTER_FRAME_S:g} s after the first frame",
        )
    )
    return sec
