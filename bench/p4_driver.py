"""P4 driver: plug -> attach request answered, through ``kvmdeck rules --run``. Prints JSON.

Runs under ``umockdev-wrapper`` (the testbed client insists, and ``kvmdeck rules`` inherits the
preload to read the fake netlink socket)::

    umockdev-wrapper .venv/bin/python -m bench.p4_driver --guest NAME --plugs 30

A rule maps 1234:0004 to the running guest. Each paced plug is one ``add`` uevent; the figure
is the time from the uevent to the runner's line saying how libvirt answered the attach (here
it fails: this VM has no /sys/bus/usb). The request is issued before that answer, so the
figure is an upper bound on plug -> request issued. Times are CLOCK_MONOTONIC in both
processes; each runner line is stamped when it arrives on the pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.procstat import tree
from bench.tmuxrun import kill_pid
from testbed.usb import Missing, NotWrapped, UsbBed

VENDOR, PRODUCT = 0x1234, 0x0004


def rules_toml(guest: str) -> str:
    return (
        "version = 1\n\n[[rule]]\n"
        f'vendor = "0x{VENDOR:04x}"\nproduct = "0x{PRODUCT:04x}"\nguest = "{guest}"\n'
        "persistent = false\n"
    )


class LineReader:
    """Stamps each stdout line of the runner with time.monotonic() on arrival."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.log: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, needle: str, timeout_s: float) -> tuple[float, str]:
        end = time.monotonic() + timeout_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line with {needle!r} within {timeout_s} s: {self.log[-5:]}")
            try:
                t, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.log.append(line)
            if needle in line:
                return t, line


def plug_loop(bed: UsbBed, reader: LineReader, plugs: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"seen": [], "answer": [], "answers": []}
    for i in range(plugs):
        devnum = 30 + i % 90
        sent = bed.plug("1-5", 1, devnum, VENDOR, PRODUCT, product=f"p4 {i}")
        t_seen, _ = reader.wait_for(f"usb add: {VENDOR:04x}:{PRODUCT:04x}", 5)
        t_ans, line = reader.wait_for(f"device {devnum})", 10)
        out["seen"].append(round((t_seen - sent.t) * 1000, 2))
        out["answer"].append(round((t_ans - sent.t) * 1000, 2))
        out["answers"].append(line.split("]: ", 1)[-1])
        bed.unplug(sent.path)
        reader.wait_for("usb remove", 5)
        time.sleep(0.05)
    return out


def measure(guest: str, plugs: int, uri: str) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="kvmdeck-bench-p4-"))
    (home / "kvmdeck").mkdir()
    (home / "kvmdeck" / "rules.toml").write_text(rules_toml(guest))
    argv = [str(Path(sys.executable).parent / "kvmdeck"), "rules", "--run", "-c", uri]
    try:
        with UsbBed.start() as bed:
            env = dict(os.environ, UMOCKDEV_DIR=bed.root, XDG_CONFIG_HOME=str(home))
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
            )
            try:
                reader = LineReader(proc)
                reader.wait_for("rule(s)", 30)  # the runner's start line: monitor, engine ready
                got = plug_loop(bed, reader, plugs)
            finally:
                for pid in reversed(tree(proc.pid)):
                    kill_pid(pid)
                proc.wait()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "argv": argv,
        "plug_to_seen_ms": got["seen"],
        "plug_to_answer_ms": got["answer"],
        "answers": sorted(set(got["answers"])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guest", required=True)
    parser.add_argument("--plugs", type=int, default=30)
    parser.add_argument("--uri", default="qemu:///system")
    args = parser.parse_args(argv)
    try:
        result = measure(args.guest, args.plugs, args.uri)
    except (Missing, NotWrapped) as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
