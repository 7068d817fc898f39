"""Children started through tui.adapters.launch.deathsig end with their parent process, even
after ``kill -9``, and not when the (short-lived) thread that asked for them ends.

Real processes: a Python parent that starts ``sleep`` from a worker thread, as kvmdeck starts
viewers and tunnels from the runner's daemon threads. The e2e test with remote-viewer and an
ssh tunnel is tests/spice/test_signals_e2e.py::test_kill_9_takes_the_viewer_and_its_tunnel_along.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from testbed import bed
from tui.adapters.launch import deathsig

PARENT = """
import threading, time, sys
from tui.adapters.launch import deathsig
def work():
    p = deathsig.popen(["sleep", "300"], die_with_us={die}, start_new_session=True)
    print(p.pid, flush=True)
t = threading.Thread(target=work)
t.start()
t.join()  # the thread that asked for the child is gone
time.sleep(300)
"""


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 :][:1] in (b"Z", b"X")


def _parent(die: bool) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-c", PARENT.format(die=die)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def test_the_child_outlives_the_thread_that_started_it() -> None:
    got: dict[str, subprocess.Popen[bytes]] = {}
    t = threading.Thread(target=lambda: got.setdefault("p", deathsig.popen(["sleep", "60"])))
    t.start()
    t.join()
    child = got["p"]
    # the kernel would send SIGTERM at the thread's end: give it every chance
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=1.0)
    alive = child.poll() is None
    child.terminate()
    child.wait(5)
    assert deathsig.supported()
    assert alive, "the child died with the thread that started it"


def test_kill_9_of_the_parent_ends_the_child() -> None:
    parent, child = _parent(die=True)
    try:
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        bed.wait_for(lambda: _gone(child), 5, 0.02, what=f"sleep {child} to end with its parent")
    finally:
        bed.stop_process(parent)  # type: ignore[arg-type]
        if not _gone(child):
            os.kill(child, signal.SIGKILL)


def test_a_kept_child_outlives_its_parent() -> None:
    parent, child = _parent(die=False)
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        with contextlib.suppress(AssertionError):
            bed.wait_for(lambda: _gone(child), 1.0, 0.05, what="never")
        assert not _gone(child)
    finally:
        bed.stop_process(parent)  # type: ignore[arg-type]
        if not _gone(child):
            os.kill(child, signal.SIGKILL)
