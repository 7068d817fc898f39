"""The real kvmdeck binary in a private tmux server: keys in, screen text out, its pid."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from testbed import bed

KVMDECK = str(Path(sys.executable).with_name("kvmdeck"))


class Term:
    """One kvmdeck in its own tmux server (``-L``), sized like an operator's terminal."""

    def __init__(
        self,
        args: list[str],
        size: tuple[int, int] = (80, 24),
        env: dict | None = None,
        remain_on_exit: bool = False,  # keep the pane after kvmdeck ends: what it left there
    ):
        bed.require_cmd("tmux", "tmux")
        self.name = f"kvmdeck-{uuid.uuid4().hex[:8]}"
        self.server = ["tmux", "-L", self.name]
        full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        full_env.update(env or {})
        cmd = "exec " + shlex.join([KVMDECK, *args])
        subprocess.run(
            [
                *self.server,
                "new-session",
                "-d",
                "-s",
                "k",
                "-x",
                str(size[0]),
                "-y",
                str(size[1]),
                cmd,
            ],
            check=True,
            env=full_env,
        )
        if remain_on_exit:
            subprocess.run([*self.server, "set-option", "-g", "remain-on-exit", "on"], check=True)
        out = subprocess.run(
            [*self.server, "display", "-p", "-t", "k", "#{pane_pid}"],
            capture_output=True,
            text=True,
            check=True,
        )
        self.pid = int(out.stdout.strip())

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.server, "send-keys", "-t", "k", *keys], check=False)

    def screen(self, history: bool = False) -> str:
        """The pane's text (``history``: its scrollback too)."""
        start = ["-S", "-"] if history else []
        out = subprocess.run(
            [*self.server, "capture-pane", "-p", *start, "-t", "k"], capture_output=True, text=True
        )
        return out.stdout

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie is gone for our purposes
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def wait_screen(self, pred: Callable[[str], bool], deadline_s: float, what: str) -> str:
        end = time.monotonic() + deadline_s
        text = ""
        while time.monotonic() < end:
            text = self.screen()
            if pred(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out after {deadline_s} s waiting for {what}; screen:\n{text}")

    def filter_to(self, name: str, deadline_s: float = 30.0) -> None:
        """``/`` NAME Enter on the main screen, each key once the screen shows the last one took:
        the filter box has the focus before the name is typed (on the main screen letters are
        guest keys), and the table has it again before the caller's next key (or that key is
        typed into the box). The footer shows the main keys (``q Quit``) only then."""
        self.keys("/")
        self.wait_screen(
            lambda s: "Esc clear" in s and "q Quit" not in s, deadline_s, "the filter box focused"
        )
        self.keys("-l", name)
        self.wait_screen(
            lambda s: any(line.strip("▊▎ ") == name for line in s.splitlines()),
            deadline_s,
            f"{name} in the filter box",
        )
        self.keys("Enter")
        self.wait_screen(lambda s: "q Quit" in s, deadline_s, "the table focused again")

    def wait_exit(self, deadline_s: float) -> float | None:
        """Seconds until the process was gone, or None if it still runs at the deadline."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline_s:
            if not self.alive():
                return time.monotonic() - t0
            time.sleep(0.02)
        return None

    def close(self) -> None:
        if self.alive():
            os.kill(self.pid, 9)
        subprocess.run([*self.server, "kill-server"], capture_output=True)
