"""Children that end with kvmdeck, even after ``kill -9``: ``PR_SET_PDEATHSIG`` (SIGTERM).

The kernel sends the parent-death signal when the *thread* that forked the child ends, not
the process, and kvmdeck starts programs from short-lived worker threads (the runner's daemon
threads). So every such child is forked by one long-lived daemon thread of this module
(:func:`popen`): it ends only with the process, whatever way the process ends. The child sets
the signal between fork and exec (``preexec_fn``, a ``prctl`` looked up before any fork) and
checks its parent is still the one that forked it (a parent that died in between would never
send the signal).
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1
_prctl: Any = None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
    _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    _prctl.restype = ctypes.c_int
except (OSError, AttributeError):  # not Linux: children are stopped on quit only
    _prctl = None

_jobs: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[Any]]] = (
    queue.SimpleQueue()
)
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def _die_with(parent: int, sig: int) -> Callable[[], None]:
    def preexec() -> None:  # in the child, between fork and exec: no locks, no allocation
        _prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl: nobody will signal
            os.kill(os.getpid(), sig)

    return preexec


def _serve() -> None:
    while True:
        start, result = _jobs.get()
        if not result.set_running_or_notify_cancel():
            continue
        try:
            result.set_result(start())
        except BaseException as exc:  # the caller re-raises it
            result.set_exception(exc)


def _spawner() -> None:
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_serve, name="kvmdeck-spawner", daemon=True)
            _thread.start()


def popen(argv: list[str], *, die_with_us: bool = True, **kwargs: Any) -> subprocess.Popen[bytes]:
    """:class:`subprocess.Popen` (``kwargs`` as there) of a child that gets SIGTERM when
    kvmdeck ends, however it ends (``die_with_us=False``: a plain Popen, for a child that
    must outlive kvmdeck, e.g. ``keep_viewers``). Blocks until the child is started; its
    ``OSError`` is raised here."""
    if not die_with_us or _prctl is None:
        return subprocess.Popen(argv, **kwargs)
    preexec = _die_with(os.getpid(), signal.SIGTERM)
    _spawner()
    result: Future[subprocess.Popen[bytes]] = Future()
    _jobs.put((lambda: subprocess.Popen(argv, preexec_fn=preexec, **kwargs), result))
    return result.result()


def supported() -> bool:
    """Can children be tied to kvmdeck's life here (Linux's prctl)?"""
    return _prctl is not None
