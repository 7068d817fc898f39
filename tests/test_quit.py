"""Quit never waits for a host: the real binary in tmux against hosts that do not answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from testbed import bed
from tests.support.tmux import Term

# Quit must not wait for a host. The figure is 2 s; the deadline here is wider so a
# loaded CI machine cannot fail it, while a quit that waits for the host (minutes) still does.
QUIT_DEADLINE_S = 5.0


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback listener that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


def test_quit_at_once_while_a_host_never_answers(silent_port: int) -> None:
    uri = f"qemu+tcp://127.0.0.1:{silent_port}/system"
    term = Term(["-c", uri], size=(100, 30))
    try:
        term.wait_screen(lambda s: "kvmdeck" in s and "connecting" in s, 20, "the hosts bar")
        # The hang is detected and named, and kvmdeck keeps trying.
        term.wait_screen(lambda s: "no answer from" in s, 30, "'no answer from …'")
        term.keys("q")
        took = term.wait_exit(QUIT_DEADLINE_S)
        assert took is not None, f"kvmdeck still runs {QUIT_DEADLINE_S} s after q"
    finally:
        term.close()


def test_ctrl_c_quits_like_q(silent_port: int) -> None:
    term = Term(["-c", f"qemu+tcp://127.0.0.1:{silent_port}/system"], size=(100, 30))
    try:
        term.wait_screen(lambda s: "kvmdeck" in s, 20, "the screen")
        term.keys("C-c")
        assert term.wait_exit(QUIT_DEADLINE_S) is not None
    finally:
        term.close()


def _libvirtd_pid() -> int:
    out = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True).stdout
    assert out.split(), "libvirtd is not running"
    return int(out.split()[0])


@pytest.mark.libvirtd
@pytest.mark.last
def test_quit_at_once_while_libvirtd_is_stopped(guests: list[bed.Guest]) -> None:
    """SIGSTOP freezes libvirtd with its socket open: every call on it blocks."""
    term = Term(["-c", bed.SYSTEM_URI, "--refresh", "0.5"], size=(120, 40))
    pid = _libvirtd_pid()
    try:
        term.wait_screen(lambda s: guests[0].name[:20] in s, 30, "the guests")
        os.kill(pid, signal.SIGSTOP)
        term.wait_screen(lambda s: "no answer from" in s, 30, "'no answer from …'")
        term.keys("q")
        took = term.wait_exit(QUIT_DEADLINE_S)
        assert took is not None, f"kvmdeck still runs {QUIT_DEADLINE_S} s after q"
    finally:
        os.kill(pid, signal.SIGCONT)
        term.close()
