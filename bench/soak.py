"""``python -m bench.soak --minutes 60``: kvmdeck against a host that drops, freezes and resumes.

kvmdeck (the real binary, under faulthandler, in its own tmux server) watches
``test:///default`` and the real libvirtd through the fault proxy (testbed/faultproxy.py). For
the whole run, at random: the proxy cuts the connection mid-call, or stops (SIGSTOP) for 1 s to
a few minutes and continues, or lets it be; a transient guest is suspended and resumed. At the
end, with the proxy running: is kvmdeck alive, does a guest suspended now show as paused, is
the host panel moving? Prints the figures and ``screen live at the end: yes/no`` (exit 0 only
when yes). Not part of ``make bench`` (an hour); run it on its own.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import libvirt

from bench.tmuxrun import TmuxError, TmuxRun
from testbed import bed, faultproxy

KVMDECK = str(Path(sys.executable).with_name("kvmdeck"))


def _row(screen: str, name: str, word: str) -> bool:
    return any(name in line and word in line for line in screen.splitlines())


class Guest:
    """The soak's guest through its own connection, opened again when libvirtd restarted."""

    def __init__(self, conn: libvirt.virConnect, uuid: str) -> None:
        self.conn, self.uuid = conn, uuid

    def dom(self) -> libvirt.virDomain:
        try:
            return self.conn.lookupByUUIDString(self.uuid)
        except libvirt.libvirtError:
            self.conn, _ = bed.ensure_libvirtd()
            return self.conn.lookupByUUIDString(self.uuid)


def soak(minutes: float, seed: int, max_freeze_s: float) -> int:
    rng = random.Random(seed)
    conn, _ = bed.ensure_libvirtd()
    guest = bed.create_transient(conn, 0, tag="soak")
    work = Path(tempfile.mkdtemp(prefix="kvd-soak-", dir="/tmp"))
    log = work / "kvmdeck.log"
    figures: dict[str, float] = {"cuts": 0, "freezes": 0, "frozen_s": 0.0, "longest_freeze_s": 0.0}
    figures.update({"suspends": 0, "crashed": 0})
    live = False
    t0 = time.monotonic()
    try:
        with faultproxy.running() as proxy:
            argv = [KVMDECK, "-c", "test:///default", "-c", proxy.uri, "--refresh", "1"]
            run = TmuxRun(
                f"soak{os.getpid()}",
                [*argv, "--log", str(log)],
                env={"PYTHONFAULTHANDLER": "1"},
                width=200,
                height=50,
            ).start()
            try:
                run.wait_for(lambda s: guest.name in s, 60, step_s=0.2)
                dom = Guest(conn, guest.uuid)
                end = t0 + minutes * 60
                while time.monotonic() < end:
                    if run.pane_pid is None or not _alive(run.pane_pid):
                        figures["crashed"] = 1
                        break
                    roll = rng.random()
                    if roll < 0.35:
                        proxy.cut()
                        figures["cuts"] += 1
                    elif roll < 0.6:
                        # mostly short, sometimes past the 10 s deadline, now and then minutes
                        kind = rng.random()
                        if kind < 0.5:
                            hold = rng.uniform(0.5, 8)
                        elif kind < 0.85:
                            hold = rng.uniform(10, 40)
                        else:
                            hold = rng.uniform(60, max_freeze_s)
                        hold = min(hold, max(0.0, end - time.monotonic()))
                        proxy.freeze()
                        try:
                            _sleep_watching(run, hold)
                        finally:
                            proxy.resume()
                        figures["freezes"] += 1
                        figures["frozen_s"] += hold
                        figures["longest_freeze_s"] = max(figures["longest_freeze_s"], hold)
                    elif roll < 0.8:
                        try:
                            dom.dom().suspend()
                            time.sleep(rng.uniform(0.2, 2))
                            dom.dom().resume()
                            figures["suspends"] += 1
                        except libvirt.libvirtError:
                            pass
                    _sleep_watching(run, rng.uniform(0.5, 6))
                # The end: the proxy runs; the screen must follow the host again.
                if not figures["crashed"]:
                    live, shown_s = _live_at_end(run, dom, guest.name)
                    figures["paused_shown_after_s"] = round(shown_s, 1)
            finally:
                run.stop()
    finally:
        conn, _ = bed.ensure_libvirtd()
        bed.remove(conn, guest)
        conn.close()
    text = log.read_text(errors="replace") if log.exists() else ""
    figures["minutes"] = round((time.monotonic() - t0) / 60, 1)
    figures["reconnects"] = len(re.findall(r": up$", text, re.M)) - 2  # both hosts' first up
    figures["no_answer"] = text.count("no answer from")
    figures["lost"] = text.count("connection lost")
    figures["watchdog_stalls"] = text.count("render watchdog")
    figures["closes_deferred"] = text.count("close waits for")
    figures["left_open"] = text.count("left open")
    figures["fatal_errors"] = text.count("Fatal Python error")
    for key, value in figures.items():
        print(f"{key}: {value:g}" if isinstance(value, float) else f"{key}: {value}")
    print(f"log: {log}")
    print(f"screen live at the end: {'yes' if live else 'no'}")
    return 0 if live else 1


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _sleep_watching(run: TmuxRun, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if run.pane_pid is None or not _alive(run.pane_pid):
            return
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))


def _live_at_end(run: TmuxRun, guest: Guest, name: str) -> tuple[bool, float]:
    """Suspend the guest: the row must say paused, then running after a resume."""
    started = time.monotonic()
    try:
        guest.dom().suspend()
        seen = run.wait_for(lambda s: _row(s, name, "paused"), 60, step_s=0.2)
        shown = seen - started
        guest.dom().resume()
        run.wait_for(lambda s: _row(s, name, "running"), 60, step_s=0.2)
    except (TmuxError, libvirt.libvirtError) as exc:
        print(f"not live at the end: {exc}", file=sys.stderr)
        return False, time.monotonic() - started
    return True, shown


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    ap.add_argument("--seed", type=int, default=int(time.time()), help="random seed")
    ap.add_argument(
        "--max-freeze", type=float, default=240.0, help="longest of the long freezes, s"
    )
    args = ap.parse_args(argv)
    print(f"seed: {args.seed}", flush=True)
    return soak(args.minutes, args.seed, args.max_freeze)


if __name__ == "__main__":
    sys.exit(main())
