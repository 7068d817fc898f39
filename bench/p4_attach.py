"""P4: USB plug -> attach request issued by a rule, beside the udev ``RUN+=`` way.

kvmdeck: ``kvmdeck rules --run`` under umockdev-wrapper (bench/p4_driver.py), plug -> libvirt's
answer to the attach. Peer: what a udev rule with ``RUN+="virsh attach-device ..."`` costs per
event: exec ``virsh attach-device GUEST hostdev.xml --live`` against the running guest, until
it exits (the attach fails here as well: no /sys/bus/usb in this VM; the round trip counts).
The two run one after the other in the same run, against the same guest.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import time

from bench import commands as cmd
from bench.results import Row, Section, median, percentile, ratio, verdict
from bench.subproc import run_bounded
from testbed.bed import Guest

PLUGS = 30
VIRSH_RUNS = 20
TARGET_P95_MS = 500.0
HOSTDEV_XML = """<hostdev mode='subsystem' type='usb' managed='yes'>
  <source>
    <vendor id='0x1234'/>
    <product id='0x0004'/>
    <address bus='1' device='{device}'/>
  </source>
</hostdev>
"""


def virsh_attach_times(guest: str, runs: int) -> tuple[list[float], str]:
    """ms from exec to exit of ``virsh attach-device``, one event at a time."""
    virsh = shutil.which("virsh") or "virsh"
    out: list[float] = []
    answer = ""
    for i in range(runs):
        xml = cmd.workdir() / f"hostdev-{i}.xml"
        xml.write_text(HOSTDEV_XML.format(device=30 + i))
        argv = [virsh, "-c", cmd.SYSTEM_URI, "attach-device", guest, str(xml), "--live"]
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        out.append((time.monotonic() - t0) * 1000)
        said = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        answer = (said[-1] if said else f"rc {proc.returncode}") if proc.returncode else "ok"
        time.sleep(0.05)
    return out, answer


def engine_available() -> str | None:
    """None when the rule engine and its headless runner are there; else the reason."""
    for mod in ("tui.core.usb.engine", "tui.core.usb.headless"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not there yet"
    from tui.core.usb import engine, headless

    if not hasattr(engine, "RuleEngine") or not hasattr(headless, "run_rules"):
        return "tui.core.usb.engine.RuleEngine / tui.core.usb.headless.run_rules not found"
    return None


def run(guests: list[Guest], plugs: int = PLUGS, virsh_runs: int = VIRSH_RUNS) -> Section:
    sec = Section("P4")
    guest = guests[0].name
    driver = ["umockdev-wrapper", cmd.PYTHON, "-m", "bench.p4_driver", "--guest", guest]
    driver += ["--plugs", str(plugs)]
    peer_cmd = f"virsh -c {cmd.SYSTEM_URI} attach-device {guest} hostdev.xml --live"
    sec.commands = [" ".join(driver), peer_cmd]
    virsh_ms, virsh_answer = virsh_attach_times(guest, virsh_runs)
    v95 = percentile(virsh_ms, 95)
    sec.details["virsh_ms"] = [round(v, 1) for v in virsh_ms]
    sec.details["virsh_answer"] = virsh_answer
    peer = f"virsh attach-device: p95 {v95:.0f} ms"
    what = "USB plug -> attach request answered"
    reason = engine_available()
    if reason is None and shutil.which("umockdev-wrapper") is None:
        reason = "umockdev-wrapper is missing: apt-get install umockdev"
    if reason is not None:
        sec.rows.append(
            Row(
                "P4",
                what,
                "pending",
                peer,
                target=f"p95 <= {TARGET_P95_MS:.0f} ms",
                verdict="PENDING",
                note=reason,
            )
        )
        return sec
    rc, out, err = run_bounded(driver, timeout_s=180, cwd=str(cmd.ROOT))
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        result = {"error": f"rc={rc}: {(err or out).strip()[-300:]}"}
    sec.details["driver"] = result
    if "error" in result:
        sec.rows.append(
            Row("P4", what, "not measured", peer, verdict="PENDING", note=str(result["error"]))
        )
        return sec
    answer_ms: list[float] = result["plug_to_answer_ms"]
    seen_ms: list[float] = result["plug_to_seen_ms"]
    a95 = percentile(answer_ms, 95)
    libvirt_says = sorted({a.split("libvirt: ", 1)[-1] for a in result["answers"]})
    sec.rows.append(
        Row(
            "P4",
            what,
            f"p95 {a95:.1f} ms",
            peer,
            f"{ratio(a95, v95):.3f}x (p50 {median(answer_ms):.1f} ms)",
            f"p95 <= {TARGET_P95_MS:.0f} ms",
            verdict(a95 <= TARGET_P95_MS),
            note=(
                f"{len(answer_ms)} paced plugs via `kvmdeck rules --run`; uevent seen p95 "
                f"{percentile(seen_ms, 95):.1f} ms; libvirt answered: {'; '.join(libvirt_says)}; "
                f"virsh p50 {median(virsh_ms):.0f} ms over {len(virsh_ms)} runs ({virsh_answer})"
            ),
        )
    )
    return sec
