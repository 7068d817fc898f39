"""Run a console program (``virsh console``) in kvmdeck's terminal, with kvmdeck holding the
escape key.

virsh watches Ctrl+] itself, but only once its console stream is open: while it connects to a
host that does not answer, it neither reads the key nor dies of Ctrl+C, and the operator's
terminal stayed with it until the host answered (150 s in one try, issue 24). Here the program
runs on a pseudo-terminal of its own, in a session of its own; kvmdeck copies the operator's
keys to it and its output to the terminal, and watches every key for Ctrl+]: on it the
program is terminated (SIGKILL half a second later if it is still there), whatever it is doing,
and the call returns. The terminal is put in raw mode meanwhile and restored afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
import tty
from typing import IO

ESCAPE = b"\x1d"  # Ctrl+]
KILL_AFTER_S = 0.5


async def run_console(
    argv: list[str],
    env: dict[str, str],
    stderr: IO[bytes] | None,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
) -> tuple[int, bool]:
    """Run ``argv`` on a new pty bridged to ``stdin_fd``/``stdout_fd``. Returns (exit status,
    escaped): ``escaped`` when Ctrl+] ended it. Raises OSError when it cannot start."""
    loop = asyncio.get_running_loop()
    master, slave = pty.openpty()
    _copy_size(stdin_fd, slave)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=stderr if stderr is not None else slave,
            start_new_session=True,  # its own session: killed as a group, not by our signals
        )
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    os.close(slave)
    os.set_blocking(master, False)
    escaped = asyncio.Event()
    saved = _raw(stdin_fd)

    def keys() -> None:
        try:
            data = os.read(stdin_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(stdin_fd)
            return
        if ESCAPE in data:
            data = data[: data.index(ESCAPE)]
            escaped.set()
        if data:
            with contextlib.suppress(OSError):
                os.write(master, data)

    def output() -> None:
        try:
            data = os.read(master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: the program closed the pty (it ended)
            data = b""
        if not data:
            loop.remove_reader(master)
            return
        with contextlib.suppress(OSError):
            _write_all(stdout_fd, data)

    loop.add_reader(stdin_fd, keys)
    loop.add_reader(master, output)
    try:
        ended = asyncio.ensure_future(proc.wait())
        escape = asyncio.ensure_future(escaped.wait())
        await asyncio.wait({ended, escape}, return_when=asyncio.FIRST_COMPLETED)
        escape.cancel()
        if not ended.done():
            await _stop(proc)
        status = await ended
    finally:
        loop.remove_reader(stdin_fd)
        loop.remove_reader(master)
        os.close(master)
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
    return status, escaped.is_set()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the program's session, SIGKILL after KILL_AFTER_S; returns when it is gone
    (a process in uninterruptible sleep aside, at most a moment after SIGKILL)."""
    for sig, wait_s in ((signal.SIGTERM, KILL_AFTER_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), wait_s)
            return
        except TimeoutError:
            continue


def _raw(fd: int) -> list[int | list[bytes | int]] | None:
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        return None  # not a terminal (tests feed a pipe)
    tty.setraw(fd, termios.TCSANOW)
    return saved


def _copy_size(src: int, dst: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[n:]
