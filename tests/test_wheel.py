"""The wheel: installed into a fresh venv, `kvmdeck --help/--version/--demo` work with styles."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from testbed import bed

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_runs_with_styles() -> None:
    try:
        bed.require_cmd("tmux", "tmux")
    except bed.Missing as exc:
        if bed.in_ci():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    r = subprocess.run(
        ["bash", "scripts/wheel-check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=110
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "site-packages/tui/styles/app.tcss" in r.stdout
    assert "wheel OK" in r.stdout
