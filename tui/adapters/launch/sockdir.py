"""Short directories for the ssh masters' control sockets, and the sweep of stale ones.

A UNIX socket's path holds at most 108 bytes. When the private directory's path is too long
for the master's socket (:mod:`.sshmux`), the socket goes to a short directory of its own,
``/tmp/kvmdeck-cm-<pid>-XXXXXXXX`` (0700, from ``mkdtemp``). A kvmdeck that ends normally
removes it; one killed with ``kill -9`` leaves it (and maybe a dead socket) behind.
:func:`sweep_socket_dirs` removes those, at the next start and when a mux first needs one.

Liveness is a lock, not a pid: the directory holds ``lock``, a file on which the process that
made it holds an exclusive ``flock`` for as long as it runs (the descriptor is close-on-exec
and never inherited). The kernel drops the lock when the process ends, however it ends. A
lock that can be taken means the owner is gone; one that cannot means it runs. Unlike a pid
(even with its start time) this cannot be fooled by a reused pid, and it holds across pid
namespaces that share /tmp (two containers), where the other one's pids are not visible.

The ``lock`` name appears only once the lock is held: the file is made as ``lock.new``,
locked, then renamed (the open file, and its lock, stay the same). A directory without
``lock`` is one being made right now, or one whose maker died in those microseconds: it is
removed only when the pid in its name is gone. Only directories of this uid, never through
a symlink (the directory, ``lock`` and the removal: ``shutil.rmtree`` on Linux does not
follow them), never another user's. Errors leave things in place (another kvmdeck may be
sweeping at the same time). This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui.adapters.launch.privdir import own_dirs

PREFIX = "kvmdeck-cm-"
LOCK_FILE = "lock"
_NAME = re.compile(r"^kvmdeck-cm-(?P<pid>[1-9][0-9]{0,9})-[A-Za-z0-9_]+$")
# The longest base a short directory may have: base + /kvmdeck-cm-<pid>-XXXXXXXX (at most 30)
# + /cm-12345678 (12) + the 17 characters ssh adds while it binds must stay under 108.
_BASE_MAX = 40


@dataclass
class SocketDir:
    """A short directory and the locked descriptor that marks it live; :meth:`remove` ends it."""

    path: Path
    lock_fd: int

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


def bases() -> list[Path]:
    """Where short directories are made (the first that is short enough) and swept (all)."""
    out: list[Path] = []
    for base in (Path(tempfile.gettempdir()), Path("/tmp")):
        if len(str(base)) <= _BASE_MAX and base not in out:
            out.append(base)
    return out


def make_socket_dir(base: Path | None = None) -> SocketDir:
    """A new ``kvmdeck-cm-<pid>-XXXXXXXX`` (0700) whose ``lock`` this process holds."""
    pid = os.getpid()
    parent = base or next((b for b in bases() if os.access(b, os.W_OK | os.X_OK)), Path("/tmp"))
    for _ in range(3):  # another kvmdeck's sweep may take a half-made one (see the docstring)
        path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-", dir=parent))
        os.chmod(path, 0o700)
        try:
            dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(LOCK_FILE + ".new", flags, 0o600, dir_fd=dfd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.write(fd, f"{pid}\n".encode())
                os.rename(LOCK_FILE + ".new", LOCK_FILE, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError:
                os.close(fd)
                shutil.rmtree(path, ignore_errors=True)
                continue
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            continue
        finally:
            os.close(dfd)
        return SocketDir(path, fd)
    raise OSError(f"could not make a socket directory in {parent}")


def _running(pid: int) -> bool:
    """The pid is a process that has not exited (a zombie has)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def _stale(path: Path, pid: int, uid: int) -> tuple[bool, int | None]:
    """(is stale, the descriptor holding its lock while it is removed, if any)."""
    try:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False, None
    try:
        if os.fstat(dfd).st_uid != uid:
            return False, None
        try:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(LOCK_FILE, flags, dir_fd=dfd)
        except FileNotFoundError:  # being made, or its maker died while making it
            return not _running(pid), None
        except OSError:  # a symlink or worse: not ours to judge
            return False, None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            os.close(fd)
            return False, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its kvmdeck runs
            os.close(fd)
            return False, None
        return True, fd
    finally:
        os.close(dfd)


@dataclass
class SockSweep:
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # live owners (or not ours to judge)
    seconds: float = 0.0


def sweep_socket_dirs(where: list[Path] | None = None) -> SockSweep:
    """Remove the short socket directories whose kvmdeck is gone (see the module docstring)."""
    t0 = time.perf_counter()
    result = SockSweep()
    uid = os.getuid()
    for path, pid in own_dirs(where if where is not None else bases(), _NAME):
        stale, fd = _stale(path, pid, uid)
        if not stale:
            result.kept.append(path)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)  # holding the dead owner's lock
        finally:
            if fd is not None:
                os.close(fd)
        if not os.path.lexists(path):
            result.removed.append(path)
    result.seconds = time.perf_counter() - t0
    return result
