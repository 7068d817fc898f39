"""The single-instance lock for USB auto-attach rules: only one kvmdeck applies them."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from tui.config import rules_path
from tui.core.usb.rules import RulesError

LOCK_NAME = "rules.lock"


class RulesLock:
    """``flock`` on ``rules.lock`` beside rules.toml: only the holder applies rules.

    The holder writes its pid into the file so the others can say who applies them. The lock
    dies with the process (the kernel drops it), so a crash never leaves it stuck.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @classmethod
    def beside(cls, rules_file: Path | None = None) -> RulesLock:
        return cls((rules_path() if rules_file is None else Path(rules_file)).with_name(LOCK_NAME))

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Try once, without blocking. True when this process holds it."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RulesError(
                f"{self.path}: cannot create the rules lock ({exc.strerror}). "
                "Fix the permissions of that directory."
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        try:  # the pid is only informative: a full disk must not cost the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        self._fd = fd
        return True

    def holder_pid(self) -> int | None:
        """The pid written by the holder (None when unknown)."""
        if self._fd is not None:
            return os.getpid()
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> RulesLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def passive_message(pid: int | None) -> str:
    return f"applied by another kvmdeck (pid {pid if pid is not None else '?'})"


__all__ = ["LOCK_NAME", "RulesLock", "passive_message"]
