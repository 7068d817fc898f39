"""P7: a fleet of 50 hosts x 20 guests (issue 23), beside one host of 20 guests.

The fleet is ``testbed/fleet.py``: 50 hosts of libvirt's test driver (a node XML each, named
``kvm00``… in a ``[[hosts]]`` config), plus 2 down hosts (nothing listens) and 1 hung host (a
loopback listener that accepts and never answers). The single host is one of those node XMLs
alone. kvmdeck runs in tmux at 120x40 (``--config``, refresh 1 s); each figure is taken for
both, the single host's in the "peer" column.

- start -> first frame: from ``tmux new-session`` until ``capture-pane`` shows a guest row;
- idle CPU: the process over a window with no input, after the hosts settled; beside it the
  loop thread's share (the rest is the worker threads: polls, address runs) and the load
  average at the window's start and end (the machine is shared: a figure means little
  without it);
- key -> repaint: paced rounds of Down, N (sort, reversing), filter typing (``/``, digits),
  Esc and Space (mark: the row gets its mark and the cursor moves), from send-keys until the
  guest rows on screen changed;
- a hung host never delays another host's rows: with 5 hung hosts (and 2 down), the time
  until the summary line says all 50 test hosts are up, beside the same without them;
- ``kvmdeck stats`` with 50 hosts of which 5 hang (45 test hosts x 20 guests): wall time
  until it exits, and the guest rows it printed (900: every live host's).
"""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass

from bench import commands as cmd
from bench.procstat import CpuWindow, main_thread_cpu_ns
from bench.results import Row, Section, median, percentile, verdict
from bench.tmuxrun import TmuxRun
from testbed.fleet import Fleet, make_fleet

HOSTS, GUESTS = 50, 20
WINDOW_S = 20.0
ROUNDS = 8
SETTLE_S = 3.0
LAUNCHES = 3
TARGET_CPU = 10.0
TARGET_P95_MS = 100.0
TARGET_START_S = 1.5
TARGET_STATS_S = 12.0
KINDS = ("cursor", "sort", "filter", "esc", "mark")
WHAT = {
    "cursor": "Down",
    "sort": "N (sort)",
    "filter": "filter typing",
    "esc": "Esc (unfilter)",
    "mark": "Space (mark)",
}
# Two digits a round, never 0 first (every "h0N-" row of one host holds it: no change to see).
FILTERS = (("1", "2"), ("3", "1"), ("2", "5"), ("4", "1"), ("5", "7"), ("3", "3"), ("1", "9"))


def guest_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if "-vm" in line]


def argv(fleet: Fleet) -> list[str]:
    assert fleet.config is not None
    return [cmd.KVMDECK, "--config", str(fleet.config), "--refresh", "1"]


def first_frame(label: str, fleet: Fleet) -> float:
    run = TmuxRun(label, argv(fleet), cmd.app_env(), cwd=str(cmd.ROOT))
    try:
        run.start()
        seen = run.wait_for(lambda t: bool(guest_rows(t)), 60, step_s=0.005)
        return seen - run.started_at
    finally:
        run.stop()


def all_up(label: str, fleet: Fleet, up: int) -> float:
    """Seconds from start until the summary line says ``up`` hosts are up."""
    run = TmuxRun(label, argv(fleet), cmd.app_env(), cwd=str(cmd.ROOT))
    try:
        run.start()
        seen = run.wait_for(lambda t: f" {up} up" in t, 60, step_s=0.01)
        return seen - run.started_at
    finally:
        run.stop()


def load_average() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


@dataclass
class Idle:
    """One idle window: the process's CPU, its loop thread's, the load average around it."""

    pct: float
    loop_pct: float
    load: tuple[float, float]

    def text(self) -> str:
        return f"{self.pct:.2f}% (loop thread {self.loop_pct:.2f}%, load {self.load_text()})"

    def load_text(self) -> str:
        return f"{self.load[0]:.1f}-{self.load[1]:.1f}"


def idle_and_keys(label: str, fleet: Fleet, rounds: int) -> tuple[Idle, dict[str, list[float]]]:
    run = TmuxRun(label, argv(fleet), cmd.app_env(), cwd=str(cmd.ROOT))
    lat: dict[str, list[float]] = {k: [] for k in KINDS}
    rng = random.Random(7)
    try:
        run.start()
        run.wait_for(lambda t: bool(guest_rows(t)), 60)
        time.sleep(SETTLE_S + 10)  # the hung host's 10 s deadline passes first
        assert run.pane_pid is not None
        win = CpuWindow({"kvmdeck": run.pane_pid})
        load0, loop0 = load_average(), main_thread_cpu_ns(run.pane_pid)
        win.start()
        time.sleep(WINDOW_S)
        wall, pct = win.stop()
        loop_pct = (main_thread_cpu_ns(run.pane_pid) - loop0) / 1e9 / wall * 100
        idle = Idle(pct["kvmdeck"], loop_pct, (load0, load_average()))

        def press(key: str, kind: str | None) -> None:
            before = guest_rows(run.capture(escapes=True))
            t0 = time.monotonic()
            run.send_keys(key)
            if kind is not None:
                seen = run.wait_for(lambda t: guest_rows(t) != before, 5, 0.002, escapes=True)
                lat[kind].append((seen - t0) * 1000)
            time.sleep(rng.uniform(0.25, 0.45))

        for r in range(rounds):
            first, second = FILTERS[r % len(FILTERS)]
            press("Home", None)  # 20 rows: Down and Space must not reach the last one
            press("Down", "cursor")
            press("Space", "mark")
            press("N", "sort")
            press("/", None)
            press(first, "filter")
            press(second, "filter")
            press("Escape", "esc")
            press("N", "sort")
        return idle, lat
    finally:
        run.stop()


def stats_wall(fleet: Fleet) -> tuple[float, int, int]:
    """(seconds until ``kvmdeck stats`` exits, guest rows printed, exit status)."""
    assert fleet.config is not None
    t0 = time.monotonic()
    proc = subprocess.run(
        [cmd.KVMDECK, "--config", str(fleet.config), "stats"],
        capture_output=True,
        text=True,
        env=cmd.env_with(cmd.app_env()),
        timeout=120,
    )
    wall = time.monotonic() - t0
    return wall, len(guest_rows(proc.stdout)), proc.returncode


def run(rounds: int = ROUNDS) -> Section:
    sec = Section("P7")
    work = cmd.workdir() / "p7"
    big = make_fleet(work / "fleet", HOSTS, GUESTS, down=2, hung=1)
    one = make_fleet(work / "one", 1, GUESTS)
    hung5 = make_fleet(work / "hung5", HOSTS, GUESTS, down=2, hung=5)
    plain = make_fleet(work / "plain", HOSTS, GUESTS)
    stats50 = make_fleet(work / "stats50", HOSTS - 5, GUESTS, hung=5)
    try:
        sec.commands = [f"tmux 120x40: {' '.join(argv(big))}", "kvmdeck --config CFG stats"]
        start_big = [first_frame(f"p7-start-{i}", big) for i in range(LAUNCHES)]
        start_one = [first_frame(f"p7-start1-{i}", one) for i in range(LAUNCHES)]
        cpu_big, lat_big = idle_and_keys("p7-fleet", big, rounds)
        cpu_one, lat_one = idle_and_keys("p7-one", one, rounds)
        up_hung = [all_up(f"p7-hung-{i}", hung5, HOSTS) for i in range(LAUNCHES)]
        up_plain = [all_up(f"p7-plain-{i}", plain, HOSTS) for i in range(LAUNCHES)]
        st_wall, st_rows, st_rc = stats_wall(stats50)
        one_wall, one_rows, _ = stats_wall(one)
    finally:
        for f in (big, one, hung5, plain, stats50):
            f.close()
    sec.details = {
        "start_s": {"fleet": start_big, "one": start_one},
        "cpu_pct": {"fleet": round(cpu_big.pct, 2), "one": round(cpu_one.pct, 2)},
        "loop_thread_pct": {"fleet": round(cpu_big.loop_pct, 2), "one": round(cpu_one.loop_pct, 2)},
        "load_average": {"fleet": cpu_big.load, "one": cpu_one.load},
        "latency_ms": {
            "fleet": {k: [round(v, 1) for v in vals] for k, vals in lat_big.items()},
            "one": {k: [round(v, 1) for v in vals] for k, vals in lat_one.items()},
        },
        "all_up_s": {"5_hung": up_hung, "no_hung": up_plain},
        "stats": {"wall_s": st_wall, "rows": st_rows, "rc": st_rc, "one_wall_s": one_wall},
    }
    n = f"{HOSTS} hosts x {GUESTS}"
    s_big, s_one = median(start_big), median(start_one)
    sec.rows.append(
        Row(
            "P7",
            f"start -> first frame, {n}",
            f"{s_big:.2f} s (median of {LAUNCHES})",
            f"1 host: {s_one:.2f} s",
            f"{s_big / s_one:.2f}x",
            f"<= {TARGET_START_S:g} s",
            verdict(s_big <= TARGET_START_S),
            "2 down and 1 hung host in the config too",
        )
    )
    sec.rows.append(
        Row(
            "P7",
            f"idle CPU, {n}, 1 s",
            f"{cpu_big.text()} ({WINDOW_S:g} s)",
            f"1 host: {cpu_one.text()}",
            f"{cpu_big.pct / cpu_one.pct:.1f}x" if cpu_one.pct else "-",
            f"<= {TARGET_CPU:.0f}% of one core",
            verdict(cpu_big.pct <= TARGET_CPU),
            "whole process; the rest of it: worker threads (polls, address runs)",
        )
    )
    for kind in KINDS:
        big_p95, one_p95 = percentile(lat_big[kind], 95), percentile(lat_one[kind], 95)
        sec.rows.append(
            Row(
                "P7",
                f"{WHAT[kind]} -> repaint, {n}",
                f"p95 {big_p95:.0f} ms",
                f"1 host: p95 {one_p95:.0f} ms",
                f"p50 {median(lat_big[kind]):.0f} ms",
                f"p95 <= {TARGET_P95_MS:.0f} ms",
                verdict(big_p95 <= TARGET_P95_MS),
                f"{len(lat_big[kind])} paced presses in tmux",
            )
        )
    h, p = median(up_hung), median(up_plain)
    sec.rows.append(
        Row(
            "P7",
            "all 50 test hosts up, with 5 hung + 2 down hosts",
            f"{h:.2f} s (median of {LAUNCHES})",
            f"no hung hosts: {p:.2f} s",
            f"{h / p:.2f}x",
            "a hung host delays no other host (<< its 10 s deadline)",
            verdict(h < 10.0 and h <= p + 1.0),
        )
    )
    sec.rows.append(
        Row(
            "P7",
            "kvmdeck stats, 50 hosts of which 5 hang",
            f"{st_wall:.1f} s, {st_rows} guest rows",
            f"1 host: {one_wall:.1f} s, {one_rows} rows",
            "-",
            f"<= {TARGET_STATS_S:g} s, every live host's rows",
            verdict(st_wall <= TARGET_STATS_S and st_rows >= (HOSTS - 5) * GUESTS),
            f"exit status {st_rc}",
        )
    )
    return sec


def main() -> int:  # python -m bench.p7_fleet: this section alone
    from bench.results import table

    print(table([run()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
