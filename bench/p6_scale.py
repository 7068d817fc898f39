"""P6: 500 guests (libvirt's test driver) at 1 s refresh: kvmdeck's CPU and key -> repaint.

The bench writes ``test:///<workdir>/p6.xml`` with 500 ``<domain type='test'>`` entries (the
format of tui/demo/demo.xml) and runs kvmdeck on it in tmux. CPU: the process over a window
with no input. Latency: paced key presses, alternating Down (cursor) and N (sort by name,
reversing each time); the clock runs from just before ``tmux send-keys`` until
``capture-pane`` shows the guest rows changed (the rows do not change on their own: the test
driver's figures are constant).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench import commands as cmd
from bench.frames import shows_any
from bench.procstat import CpuWindow, vm_hwm_kib
from bench.results import Row, Section, median, percentile, verdict
from bench.tmuxrun import TmuxRun

GUESTS = 500
WINDOW_S = 20.0
PRESSES = 20
SETTLE_S = 3.0
TARGET_CPU = 10.0
TARGET_P95_MS = 100.0
PREFIX = "p6-guest-"

DOMAIN = """  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{name}</name>
    <uuid>6b1c0a3e-0d7e-4c1a-9e1b-{index:012d}</uuid>
    <memory unit='MiB'>{mem}</memory>
    <currentMemory unit='MiB'>{mem}</currentMemory>
    <vcpu>{vcpus}</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <test:runstate>{state}</test:runstate>
  </domain>
"""


def node_xml(count: int) -> str:
    """A test-driver node with ``count`` guests; every tenth one is shut off."""
    head = (
        "<?xml version='1.0'?>\n<node>\n"
        "  <cpu><nodes>1</nodes><sockets>1</sockets><cores>32</cores><threads>2</threads>"
        "<mhz>2400</mhz><model>Bench CPU</model></cpu>\n"
        "  <memory>1073741824</memory>\n"
    )
    doms = [
        DOMAIN.format(
            name=f"{PREFIX}{i:03d}",
            index=i,
            mem=512 * (1 + i % 8),
            vcpus=1 + i % 4,
            state=5 if i % 10 == 9 else 1,
        )
        for i in range(count)
    ]
    return head + "".join(doms) + "</node>\n"


def guest_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if PREFIX in line]


def key_latencies(run: TmuxRun, presses: int, rng: random.Random) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"Down": [], "N": []}
    for i in range(presses):
        key = "Down" if i % 2 == 0 else "N"
        before = guest_rows(run.capture(escapes=True))

        def changed(text: str, before: list[str] = before) -> bool:
            return guest_rows(text) != before

        t0 = time.monotonic()
        run.send_keys(key)
        seen = run.wait_for(changed, 5, step_s=0.002, escapes=True)
        out[key].append((seen - t0) * 1000)
        time.sleep(rng.uniform(0.25, 0.45))
    return out


def run(guests: int = GUESTS, window_s: float = WINDOW_S, presses: int = PRESSES) -> Section:
    sec = Section("P6")
    xml = cmd.workdir() / "p6.xml"
    xml.write_text(node_xml(guests))
    uri = f"test://{Path(xml).resolve()}"
    argv = cmd.kvmdeck_argv(uri)
    sec.commands = [f"tmux: {' '.join(argv)}"]
    tm = TmuxRun("p6-kvmdeck", argv, cmd.app_env(), cwd=str(cmd.ROOT))
    try:
        tm.start()
        tm.wait_for(shows_any([f"{PREFIX}000"]), 60)
        time.sleep(SETTLE_S)
        assert tm.pane_pid is not None
        win = CpuWindow({"kvmdeck": tm.pane_pid})
        win.start()
        time.sleep(window_s)
        wall, pct = win.stop()
        lat = key_latencies(tm, presses, random.Random(6))
        rss_kib = vm_hwm_kib(tm.pane_pid)
    finally:
        tm.stop()
    cpu = pct["kvmdeck"]
    every = lat["Down"] + lat["N"]
    p95 = percentile(every, 95)
    sec.details = {
        "cpu_pct": round(cpu, 2),
        "window_s": round(wall, 2),
        "latency_ms": {k: [round(v, 1) for v in vals] for k, vals in lat.items()},
        "vmhwm_mib": round(rss_kib / 1024, 1),
    }
    sec.rows.append(
        Row(
            "P6",
            f"CPU, {guests} test-driver guests, 1 s",
            f"{cpu:.2f}% ({window_s:g} s)",
            target=f"<= {TARGET_CPU:.0f}% of one core",
            verdict=verdict(cpu <= TARGET_CPU),
        )
    )
    sec.rows.append(
        Row(
            "P6",
            f"key -> repaint, {guests} guests",
            f"p95 {p95:.0f} ms",
            ratio=f"p50 {median(every):.0f} ms",
            target=f"p95 <= {TARGET_P95_MS:.0f} ms",
            verdict=verdict(p95 <= TARGET_P95_MS),
            note=(
                f"{len(every)} paced presses in tmux; Down p50/p95 "
                f"{median(lat['Down']):.0f}/{percentile(lat['Down'], 95):.0f} ms, "
                f"N (sort) p50/p95 {median(lat['N']):.0f}/{percentile(lat['N'], 95):.0f} ms; "
                f"peak RSS {rss_kib * 1024 / 1e6:.0f} MB"
            ),
        )
    )
    return sec
