"""``kvmdeck stats``: the TUI's figures without the TUI, against the real libvirtd."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed import bed
from tests.test_status import SilentListener
from tui.adapters.libvirt.connection import demo_uri, display_uri
from tui.cli.stats import DEADLINE_S, GUEST_FIELDS

pytestmark = pytest.mark.libvirtd


def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def test_json_samples_have_rates_for_running_guests(guests: list[bed.Guest]) -> None:
    r = run("-c", bed.SYSTEM_URI, "stats", "--json", "--count", "2", "--interval", "0.5")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["sample"] for x in lines] == [1, 2]
    rows = {g["name"]: g for g in lines[-1]["guests"]}
    for g in guests:
        row = rows[g.name]
        assert row["state"] == "running"
        assert row["cpu"] is not None and row["cpu"] >= 0
        assert row["mem_max_kib"] == 96 * 1024
        assert row["disk_rd_bps"] is not None  # a rate, possibly 0 B/s, never missing
    assert lines[-1]["host"]["per_cpu"]


def test_csv_has_the_documented_columns_and_blank_for_unknown() -> None:
    r = run("--demo", "stats", "--csv", "--count", "1", "--interval", "0.1")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0].keys()) == GUEST_FIELDS
    web = next(x for x in rows if x["name"] == "web-frontend")
    assert web["state"] == "running"
    assert web["cpu"] == ""  # the test driver reports no CPU time: blank, never 0
    assert web["uri"] == demo_uri() and web["host_label"] == display_uri(demo_uri())
    assert web["host"]  # the hostname libvirt reports, as before


def test_rows_carry_the_configured_label(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[hosts]]\nuri = "test:///default"\nname = "lab"\n')
    r = run("--config", str(cfg), "stats", "--json", "--count", "1", "--interval", "0.1")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["guests"]
    assert rows and {(g["host_label"], g["uri"]) for g in rows} == {("lab", "test:///default")}


def test_unreachable_uri_exits_1_with_the_reason() -> None:
    r = run("-c", "qemu:///system?socket=/nonexistent/sock", "stats", "--count", "1")
    assert r.returncode == 1
    assert "libvirtd is not running" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_invalid_uri_exits_2_and_the_other_hosts_still_print() -> None:
    r = run("-c", "foo:///bar", "-c", "test:///default", "stats", "--csv", "--interval", "0.1")
    assert r.returncode == 2, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {x["uri"] for x in rows} == {"test:///default"}
    assert "foo:///bar is not a URI" in r.stderr


def test_one_host_refused_the_healthy_host_still_prints(guests: list[bed.Guest]) -> None:
    down = "qemu+tcp://127.0.0.1:1/system"
    r = run("stats", "--csv", "-c", bed.SYSTEM_URI, "-c", down)
    assert r.returncode == 3, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {g.name for g in guests} <= {x["name"] for x in rows}
    assert {(x["host_label"], x["uri"]) for x in rows} == {(bed.SYSTEM_URI, bed.SYSTEM_URI)}
    assert down in r.stderr and "refused" in r.stderr and "key" not in r.stderr
    assert "Traceback" not in r.stderr


def test_one_host_silent_the_healthy_host_prints_and_the_process_exits(
    guests: list[bed.Guest],
) -> None:
    silent = SilentListener()
    try:
        down = f"qemu+tcp://127.0.0.1:{silent.port}/system"
        t0 = time.monotonic()
        r = run("stats", "--csv", "-c", bed.SYSTEM_URI, "-c", down, timeout=DEADLINE_S + 60)
        elapsed = time.monotonic() - t0
        # The stuck connection stays open while the process exits (daemon thread).
        assert silent.accepted, "the silent host was never contacted"
    finally:
        silent.close()
    assert r.returncode == 3, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {g.name for g in guests} <= {x["name"] for x in rows}
    assert f"no answer from {down} after {DEADLINE_S:g} s" in r.stderr
    assert elapsed < DEADLINE_S + 30  # one deadline, not libvirt's minutes
