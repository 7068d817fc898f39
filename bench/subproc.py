"""Run a helper command with a deadline; on timeout stop it and its children, each by PID."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from bench.procstat import tree
from bench.tmuxrun import kill_pid


def run_bounded(
    argv: Sequence[str],
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[int | None, str, str]:
    """(returncode or None on timeout, stdout, stderr)."""
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        for pid in reversed(tree(proc.pid)):  # children first, then the helper itself
            kill_pid(pid)
        out, err = proc.communicate()
        return None, out, err + f"\n(stopped after {timeout_s:g} s)"
