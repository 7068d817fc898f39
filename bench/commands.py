"""The programs the bench runs, and the private environment they run in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
KVMDECK = str(VENV_BIN / "kvmdeck")
PYTHON = sys.executable
SYSTEM_URI = "qemu:///system"

# glances is a peer, not a dependency of kvmdeck: it lives in a venv of its own under /tmp.
GLANCES_VENV = Path("/tmp/kvmdeck-bench-venv")
GLANCES = GLANCES_VENV / "bin" / "glances"

_WORKDIR: Path | None = None


def workdir() -> Path:
    """A private directory for this run (config home, generated XML, logs)."""
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="kvmdeck-bench-"))
        (_WORKDIR / "config").mkdir()
    return _WORKDIR


def cleanup_workdir() -> None:
    global _WORKDIR
    if _WORKDIR is not None:
        shutil.rmtree(_WORKDIR, ignore_errors=True)
        _WORKDIR = None


def app_env() -> dict[str, str]:
    """Same for every program under test: no user config, same terminal settings."""
    return {
        "XDG_CONFIG_HOME": str(workdir() / "config"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }


def kvmdeck_argv(uri: str = SYSTEM_URI, refresh: float = 1.0) -> list[str]:
    return [KVMDECK, "-c", uri, "--refresh", f"{refresh:g}"]


def floor_argv(rows: int = 6, refresh: float = 1.0) -> list[str]:
    return [PYTHON, "-m", "bench.floor_app", "--rows", str(rows), "--refresh", f"{refresh:g}"]


def glances_argv(refresh: float = 1.0) -> list[str]:
    return [str(GLANCES), "-t", f"{refresh:g}"]


def ensure_glances() -> tuple[bool, str]:
    """Install glances into its own venv if it is not there. Returns (ok, version or error)."""
    if not GLANCES.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        steps = [
            [base, "-m", "venv", str(GLANCES_VENV)],
            [str(GLANCES_VENV / "bin" / "pip"), "install", "-q", "glances"],
        ]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True)
            if proc.returncode != 0:
                return False, f"{' '.join(step[:3])}: {proc.stderr.strip()[-300:]}"
    proc = subprocess.run([str(GLANCES), "--version"], capture_output=True, text=True)
    first = (proc.stdout or proc.stderr).splitlines()
    return proc.returncode == 0, first[0].strip() if first else "glances"


def compile_bytecode() -> str:
    """Compile kvmdeck's modules as an install does (pip does for a wheel; ``make`` does for
    the editable install): the bench's PYTHONDONTWRITEBYTECODE would otherwise have every
    launch compile them again. Returns the directory compiled."""
    import tui

    package = str(Path(tui.__file__).resolve().parent)
    subprocess.run([PYTHON, "-m", "compileall", "-q", package], check=False)
    return package


def env_with(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
