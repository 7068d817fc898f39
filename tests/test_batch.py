"""``kvmdeck stats``: the TUI's figures without the TUI, against the real libvirtd."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from tests.support import bed
from tui.cli.stats import GUEST_FIELDS

pytestmark = pytest.mark.libvirtd


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        timeout=90,
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


def test_unreachable_uri_exits_1_with_the_reason() -> None:
    r = run("-c", "qemu:///system?socket=/nonexistent/sock", "stats", "--count", "1")
    assert r.returncode == 1
    assert "libvirtd is not running" in r.stderr and "Traceback" not in r.stderr
