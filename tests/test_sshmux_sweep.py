"""Short ssh control-socket directories left by a kvmdeck killed with ``kill -9`` are swept.

When the private directory's path is too long for a UNIX socket, the host's ssh master puts
its control socket in ``/tmp/kvmdeck-cm-<pid>-XXXXXXXX`` (tui/adapters/launch/sockdir.py),
whose ``lock`` the making process holds (flock) for its lifetime. Real processes throughout:
processes that run the real launcher against a real sshd on 127.0.0.1 with a long
``XDG_RUNTIME_DIR``, killed with SIGKILL; the real ``kvmdeck`` binary started after them
sweeps what the dead one left and leaves a live one's directory (and its master) alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from testbed import bed
from tui.adapters.launch import Launcher
from tui.adapters.launch.sockdir import LOCK_FILE, make_socket_dir, sweep_socket_dirs

# A process that makes a socket directory in BASE (argv[1]), prints it and waits for stdin.
_HOLDER = (
    "import sys\n"
    "from pathlib import Path\n"
    "from tui.adapters.launch.sockdir import make_socket_dir\n"
    "d = make_socket_dir(Path(sys.argv[1]))\n"
    "print(d.path, flush=True)\n"
    "sys.stdin.readline()\n"
)

# A process that runs the real launcher: the serial console's ssh command for the URI starts
# the host's master; it prints the socket directory, then quits normally when stdin ends.
_LAUNCHER = (
    "import sys\n"
    "from tui.adapters.launch import Launcher\n"
    "launcher = Launcher()\n"
    "assert launcher.ssh_command(sys.argv[1]) is not None\n"
    "print(launcher._mux._short.path, flush=True)\n"
    "sys.stdin.readline()\n"
    "launcher.shutdown()\n"
)


def _start(code: str, arg: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", code, arg],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _line(proc: subprocess.Popen[bytes]) -> Path:
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    assert line, f"the process printed nothing (exit {proc.poll()})"
    return Path(line)


def _kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _a_dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _dir(base: Path, pid: int, tag: str, lock: bool = False) -> Path:
    path = base / f"kvmdeck-cm-{pid}-{tag}"
    path.mkdir(mode=0o700)
    if lock:
        (path / LOCK_FILE).write_text(f"{pid}\n")
    return path


def test_sweep_rules(tmp_path: Path) -> None:
    """Removed: the dir of a killed holder, a half-made dir whose pid is gone, a dir whose
    lock nobody holds although a process now has the pid in its name (pid reuse). Kept: a
    live holder's, this process's own, a half-made one whose pid runs, another user's, a dir
    whose ``lock`` is a symlink; a symlinked dir and what it points to are not touched."""
    base = tmp_path / "base"
    base.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    holders = [_start(_HOLDER, str(base)) for _ in range(2)]
    sleeper = subprocess.Popen(["sleep", "60"])
    mine = make_socket_dir(base)
    try:
        killed, live = (_line(p) for p in holders)
        (killed / "cm-12345678").write_text("")  # where the dead master's socket was
        _kill9(holders[0])
        dead = _a_dead_pid()
        half_dead = _dir(base, dead, "half0000")
        half_live = _dir(base, sleeper.pid, "half0001")
        reused = _dir(base, sleeper.pid, "reused00", lock=True)  # that pid, nobody's lock
        foreign = _dir(base, dead, "nobody00", lock=True)
        if os.getuid() == 0:
            os.chown(foreign, 65534, 65534)
            os.chown(foreign / LOCK_FILE, 65534, 65534)
        symlock = _dir(base, dead, "symlock0")
        (symlock / LOCK_FILE).symlink_to(outside / "precious")
        symdir = base / f"kvmdeck-cm-{dead}-symlink0"
        symdir.symlink_to(outside)
        unrelated = [base / "kvmdeck-cm-bench", base / f"kvmdeck-{dead}-privdir0"]
        unrelated[0].write_text("{}")
        unrelated[1].mkdir()

        result = sweep_socket_dirs([base])

        removed = [killed, half_dead, reused] + ([] if os.getuid() == 0 else [foreign])
        assert sorted(result.removed) == sorted(removed)
        assert not any(p.exists() for p in removed)
        assert live.exists() and (live / LOCK_FILE).exists()
        assert mine.path.exists() and half_live.exists() and symlock.exists()
        assert symdir.is_symlink() and (outside / "precious").read_text() == "x"
        assert all(p.exists() for p in unrelated)
        if os.getuid() == 0:
            assert foreign.exists()
        # a second sweep (another kvmdeck starting) finds nothing more to remove
        assert sweep_socket_dirs([base]).removed == []
    finally:
        mine.remove()
        for p in holders:
            bed.stop_process(p)  # type: ignore[arg-type]
        bed.stop_process(sleeper)  # type: ignore[arg-type]
    assert not mine.path.exists()


def _long_runtime_dir(tmp_path: Path) -> Path:
    """An XDG_RUNTIME_DIR too long for the master's socket in the private directory."""
    path = tmp_path / ("r" * 70)
    path.mkdir(mode=0o700)
    return path


def _master_answers(sockdir: Path, sshd: bed.Sshd) -> bool:
    (socket,) = [p for p in sockdir.iterdir() if p.name.startswith("cm-")]
    check = subprocess.run(
        ["ssh", "-O", "check", "-o", f"ControlPath={socket}", "-p", str(sshd.port), "127.0.0.1"],
        capture_output=True,
        timeout=10,
    )
    return check.returncode == 0


@pytest.mark.sshd
def test_real_kvmdeck_sweeps_a_killed_ones_socket_dir_not_a_live_ones(
    sshd: bed.Sshd, tmp_path: Path
) -> None:
    """Two launchers with a master each (real ssh to a real sshd); one is killed with
    SIGKILL and leaves its socket directory. The real binary, started next, removes it; the
    live one's directory and its master stay, and go when that launcher quits."""
    from tests.support.tmux import Term

    env = {**os.environ, "XDG_RUNTIME_DIR": str(_long_runtime_dir(tmp_path))}
    procs = [_start(_LAUNCHER, sshd.uri, env) for _ in range(2)]
    try:
        dead_dir, live_dir = (_line(p) for p in procs)
        assert len(str(dead_dir)) < len(env["XDG_RUNTIME_DIR"])  # the short one, in /tmp
        _kill9(procs[0])
        assert dead_dir.exists()  # left behind: nobody removed it

        log = tmp_path / "kvmdeck.log"
        term = Term(["--demo", "--log", str(log)], env={"XDG_RUNTIME_DIR": env["XDG_RUNTIME_DIR"]})
        try:
            bed.wait_for(lambda: not dead_dir.exists(), 20, 0.05, what="the sweep of the dead dir")
            bed.wait_for(lambda: "stale ssh socket dir" in log.read_text(), 10, 0.05, what="log")
            line = next(x for x in log.read_text().splitlines() if "stale ssh socket dir" in x)
            print(f"\n{line.split(' - ')[-1]}")
            assert str(dead_dir) in line and str(live_dir) not in line
            assert live_dir.exists() and _master_answers(live_dir, sshd)
            term.keys("q")
            assert term.wait_exit(10) is not None, "kvmdeck did not quit"
        finally:
            term.close()
        assert live_dir.exists() and _master_answers(live_dir, sshd)

        assert procs[1].stdin is not None
        procs[1].stdin.close()  # the live launcher quits normally: its own dir goes
        procs[1].wait(15)
        assert not live_dir.exists()
    finally:
        for p in procs:
            bed.stop_process(p)  # type: ignore[arg-type]


@pytest.mark.sshd
def test_the_mux_sweeps_before_it_makes_its_first_socket_dir(
    sshd: bed.Sshd, tmp_path: Path
) -> None:
    """No start-up sweep (the launcher used on its own): the first master that needs a short
    directory sweeps the one a killed launcher left first."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(_long_runtime_dir(tmp_path))}
    killed = _start(_LAUNCHER, sshd.uri, env)
    try:
        dead_dir = _line(killed)
        _kill9(killed)
        assert dead_dir.exists()
    finally:
        bed.stop_process(killed)  # type: ignore[arg-type]
    launcher = Launcher(env=env)
    try:
        assert launcher.ssh_command(sshd.uri) is not None
        assert launcher._mux._short is not None
        mine = launcher._mux._short.path
        assert not dead_dir.exists()
        assert mine.exists() and _master_answers(mine, sshd)
    finally:
        launcher.shutdown(keep_viewers=False)
    assert not mine.exists()
