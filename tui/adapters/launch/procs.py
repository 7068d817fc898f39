"""remote-viewer's log lines, and stopping the programs kvmdeck started (by PID)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from tui.model.viewers import ViewerState

_LOG_LINE = re.compile(
    r"^\([^)]*\):\s+[\w.-]+(?:\s+\*\*)?:\s+(?:\d\d:\d\d:\d\d\.\d+:\s+)?(?P<msg>.*)$"
)
# Measured with remote-viewer 11 --debug: SPICE says "main channel: opened"; VNC has no such
# line, its first "desktop resize" follows the handshake (and authentication).
_CONNECTED = ("main channel: opened", "desktop resize", "notebook show display")
_FAILED: tuple[tuple[str, str | None], ...] = (
    ("main channel: auth failure", "authentication failed (wrong password?)"),
    ("main channel: failed to connect", None),
    ("main channel: closed", "disconnected"),
    ("got vnc error", None),
    ("Unable to authenticate", None),
    ("Unable to connect", None),
    ("Failed to initiate connection", None),
    ("Can't connect to channel", None),
    ("Connecting to UNIX socket failed", None),
    ("Cannot determine the connection type", None),
    ("display has disconnected", "disconnected"),
)
_NOISE_PREFIXES = ("main channel: ", "vnc-session: got vnc error ")


def classify_log_line(line: str) -> tuple[ViewerState, str] | None:
    """A remote-viewer --debug line that changes the state: (state, detail), else None."""
    m = _LOG_LINE.match(line.strip())
    msg = m.group("msg") if m else line.strip()
    for needle in _CONNECTED:
        if needle in msg:
            return ViewerState.CONNECTED, ""
    for needle, fixed in _FAILED:
        if needle in msg:
            if fixed is not None:
                return ViewerState.FAILED, fixed
            for prefix in _NOISE_PREFIXES:
                msg = msg.split(prefix, 1)[-1]
            return ViewerState.FAILED, msg
    return None


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    """SIGTERM this one process (by PID), SIGKILL after ``grace_s``, and reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _stop_many(procs: Iterable[subprocess.Popen[bytes]], grace_s: float) -> None:
    """SIGTERM them all at once (by PID), SIGKILL whatever is left after ``grace_s``, reap."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    for p in live:
        try:
            p.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
    for p in live:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(1.0)


def _tail(path: Path | None, limit: int = 300) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " ".join(text.splitlines()[-3:])[-limit:]
