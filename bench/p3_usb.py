"""P3: USB plug (umockdev uevent) -> row visible, via the existing bench/usb_latency.py.

It runs under ``umockdev-wrapper`` in its own process (the fake netlink socket needs the
preload); we parse its summary lines.
"""

from __future__ import annotations

import re
import shutil

from bench import commands as cmd
from bench.results import Row, Section, verdict
from bench.subproc import run_bounded

PLUGS = 100
TARGET_P95_MS = 50.0
_LINE = re.compile(
    r"^(?P<name>plug->[\w ]+?)\s+n=(?P<n>\d+)\s+p50=\s*(?P<p50>[\d.]+) ms\s+"
    r"p95=\s*(?P<p95>[\d.]+) ms\s+max=\s*(?P<max>[\d.]+) ms"
)


def run(plugs: int = PLUGS) -> Section:
    sec = Section("P3")
    argv = ["umockdev-wrapper", cmd.PYTHON, "-m", "bench.usb_latency", "--plugs", str(plugs)]
    sec.commands = [" ".join(argv)]
    if shutil.which("umockdev-wrapper") is None:
        sec.rows.append(
            Row(
                "P3",
                "USB plug -> row visible",
                "not run",
                verdict="PENDING",
                note="umockdev-wrapper is missing: apt-get install umockdev",
            )
        )
        return sec
    rc, out, err = run_bounded(argv, timeout_s=240, cwd=str(cmd.ROOT))
    found = {m["name"]: m.groupdict() for m in map(_LINE.match, out.splitlines()) if m}
    sec.details = {"returncode": rc, "stdout": out.strip().splitlines(), "found": found}
    row = found.get("plug->row painted")
    if row is None:
        sec.error = f"usb_latency printed no figures (rc={rc}): {(err or out).strip()[-300:]}"
        return sec
    cb = found.get("plug->monitor callback")
    if cb is not None:
        sec.rows.append(
            Row(
                "P3",
                "USB plug -> monitor callback",
                f"p95 {float(cb['p95']):.1f} ms",
                ratio=f"p50 {float(cb['p50']):.1f} ms",
                note=f"n={cb['n']}, max {float(cb['max']):.1f} ms (part of the figure below)",
            )
        )
    p95 = float(row["p95"])
    sec.rows.append(
        Row(
            "P3",
            "USB plug -> row visible (painted)",
            f"p95 {p95:.1f} ms",
            "none",
            f"p50 {float(row['p50']):.1f} ms",
            f"p95 <= {TARGET_P95_MS:.0f} ms, {plugs} plugs",
            verdict(p95 <= TARGET_P95_MS),
            note=f"n={row['n']}, max {float(row['max']):.1f} ms, paced one plug at a time",
        )
    )
    return sec
