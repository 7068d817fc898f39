"""A program in its own tmux server (own socket), so its pane and server PIDs are ours to stop."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

from bench.procstat import alive

WIDTH, HEIGHT = 160, 45


class TmuxError(RuntimeError):
    pass


def kill_pid(pid: int, grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; wait until the process is gone or a zombie."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if not alive(pid):
                return
            time.sleep(0.02)


class TmuxRun:
    """``TmuxRun("p1-tui", ["kvmdeck", ...])``: a detached session running one command."""

    def __init__(
        self,
        label: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        width: int = WIDTH,
        height: int = HEIGHT,
    ) -> None:
        self.label = label
        self.socket = f"kvmdeck-bench-{os.getpid()}-{label}"
        self.argv = list(argv)
        self.env = dict(env or {})
        self.cwd = cwd
        self.width, self.height = width, height
        self.server_pid: int | None = None
        self.pane_pid: int | None = None
        self.started_at = 0.0

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def _tmux(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise TmuxError(f"tmux {args[0]} ({self.label}): {proc.stderr.strip()}")
        return proc.stdout

    def start(self) -> TmuxRun:
        env_args: list[str] = []
        for key, value in self.env.items():
            env_args += ["-e", f"{key}={value}"]
        # exec: the pane's process is the program itself, not a shell around it.
        self.started_at = time.monotonic()
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.label,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            *(["-c", self.cwd] if self.cwd else []),
            *env_args,
            "exec " + self.command_line,
        )
        out = self._tmux("display-message", "-p", "-t", self.label, "#{pid} #{pane_pid}").split()
        self.server_pid, self.pane_pid = int(out[0]), int(out[1])
        return self

    def capture(self, escapes: bool = False) -> str:
        args = ["capture-pane", "-p", "-t", self.label]
        if escapes:
            args.append("-e")
        return self._tmux(*args, check=False)

    def send_keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.label, *keys)

    def wait_for(
        self,
        predicate: Callable[[str], bool],
        timeout_s: float,
        step_s: float = 0.01,
        escapes: bool = False,
    ) -> float:
        """Poll the pane until ``predicate(text)``; return the monotonic time it was seen."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            text = self.capture(escapes)
            if predicate(text):
                return time.monotonic()
            if self.pane_pid is not None and not alive(self.pane_pid):
                raise TmuxError(f"{self.label}: the program exited:\n{text}")
            time.sleep(step_s)
        raise TmuxError(f"{self.label}: not seen within {timeout_s} s:\n{self.capture()}")

    def stop(self) -> None:
        """Stop the program, then the tmux server, each by its PID."""
        for pid in (self.pane_pid, self.server_pid):
            if pid is not None:
                kill_pid(pid)
        self.pane_pid = self.server_pid = None

    def __enter__(self) -> TmuxRun:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
