"""``python -m bench [P1 P2 ...]``: kvmdeck's performance figures beside their peers, one table.

Starts what it needs (libvirtd if down, 6 TCG guests, tmux servers, glances, helpers), stops
every process it started by PID, destroys its guests, and writes /tmp/kvmdeck-bench.json.
P3 and P6 run first (no guests: the TCG guests would only add noise), then P5, P1, P2, P4
against the same 6 guests.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType

from bench import commands as cmd
from bench import guests as bed_guests
from bench.results import Section, environment, table, write_json, write_markdown

ALL = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "LAB")
NO_GUESTS = ("P3", "P6", "P7", "LAB")
WITH_GUESTS = ("P5", "P1", "P2", "P4")
GUEST_COUNT = 6


def _guarded(pid: str, fn: Callable[[], Section]) -> Section:
    t0 = time.monotonic()
    print(f"[bench] {pid} …", file=sys.stderr, flush=True)
    try:
        sec = fn()
    except Exception as exc:  # one figure failing must not lose the others
        traceback.print_exc()
        sec = Section(pid, error=f"{type(exc).__name__}: {exc}"[:300])
    sec.wall_s = round(time.monotonic() - t0, 1)
    print(f"[bench] {pid} done in {sec.wall_s:.0f} s", file=sys.stderr, flush=True)
    return sec


def _sigterm(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwind through every finally: guests, tmux servers, helpers


def run(wanted: list[str]) -> list[Section]:
    from bench import p1_cpu, p2_libvirtd, p3_usb, p4_attach, p5_start, p6_scale

    sections: list[Section] = []
    if "P3" in wanted:
        sections.append(_guarded("P3", p3_usb.run))
    if "P6" in wanted:
        sections.append(_guarded("P6", p6_scale.run))
    if "P7" in wanted:  # the fleet: 50 test-driver hosts, down and hung ones (issue 23)
        from bench import p7_fleet

        sections.append(_guarded("P7", p7_fleet.run))
    if "LAB" in wanted:  # the USB lab (lab/): its own L1 VM, no host guests
        from bench import lab_usb

        sections.append(_guarded("LAB", lab_usb.run))
    need = [p for p in WITH_GUESTS if p in wanted]
    if not need:
        return sections
    with bed_guests.services() as svc, bed_guests.running_guests(GUEST_COUNT) as guests:
        steps: dict[str, Callable[[], Section]] = {
            "P5": lambda: p5_start.run(guests),
            "P1": lambda: p1_cpu.run(svc, guests),
            "P2": lambda: p2_libvirtd.run(svc, guests),
            "P4": lambda: p4_attach.run(guests),
        }
        for pid in need:
            sections.append(_guarded(pid, steps[pid]))
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("figures", nargs="*", metavar="P1..P6|LAB", help="a subset (default: all)")
    args = parser.parse_args(argv)
    wanted = [f.upper() for f in args.figures] or list(ALL)
    unknown = [f for f in wanted if f not in ALL]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    signal.signal(signal.SIGTERM, _sigterm)
    env = environment()
    t0 = time.monotonic()
    try:
        sections = run(wanted)
    except KeyboardInterrupt:
        print("[bench] interrupted; cleaned up", file=sys.stderr)
        return 130
    finally:
        cmd.cleanup_workdir()
    order = {pid: i for i, pid in enumerate(ALL)}
    sections.sort(key=lambda s: order[s.id])
    wall = time.monotonic() - t0
    print()
    print(f"kvmdeck bench  {env['date']}  wall {wall:.0f} s")
    print(f"kernel {env['kernel']}  CPU {env['cpu']} x{env['cores']}  Python {env['python']}")
    print()
    print(table(sections))
    print()
    print("Command lines:")
    for sec in sections:
        for line in sec.commands:
            print(f"  {sec.id}: {line}")
    path = write_json(sections, env, wall)
    md = write_markdown(sections, env)
    print(f"\nJSON: {path}\nREADME table rows (markdown): {md}")
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
