"""The real ``kvmdeck`` binary in tmux, a real remote-viewer on Xvfb, a real SPICE guest: a dropped
session (``tmux kill-session``: SIGHUP) or SIGTERM leaves no viewer, tunnel, ``.vv`` or private
directory, and SIGTERM/Ctrl+C give the terminal back (alternate screen off, mouse reporting off).
A private directory left by a kvmdeck killed with SIGKILL is swept at the next start; a live
kvmdeck's is not.

Every process started here is stopped by its PID; every wait has a deadline (no sleeps).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed import bed
from tests.conftest import need
from tui.adapters.launch.privdir import OWNER_FILE, make_private_dir, owner_alive, sweep_stale

pytestmark = [pytest.mark.libvirtd, pytest.mark.xvfb]

KVMDECK = Path(sys.executable).parent / "kvmdeck"
SESSION = "kvmdeck-sig"
# (turned on, turned back) escape sequences: alternate screen, mouse reporting, cursor hidden.
RESTORED = [
    (b"\x1b[?1049h", b"\x1b[?1049l"),
    (b"\x1b[?1000h", b"\x1b[?1000l"),
    (b"\x1b[?1003h", b"\x1b[?1003l"),
    (b"\x1b[?1006h", b"\x1b[?1006l"),
    (b"\x1b[?25l", b"\x1b[?25h"),
]


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its parent has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 :][:1] in (b"Z", b"X")


def _children(pid: int) -> dict[int, str]:
    """pid → comm of the processes whose parent is ``pid`` (viewers, tunnels)."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2 :].split()
        if int(rest[1]) == pid:
            out[int(entry.name)] = stat[stat.find(b"(") + 1 : stat.rfind(b")")].decode()
    return out


def _private_dirs(runtime_dir: Path, pid: int) -> list[Path]:
    return sorted((runtime_dir / "kvmdeck").glob(f"kvmdeck-{pid}-*"))


def _kill(pid: int) -> None:
    """Stop one process we started (or that kvmdeck started and left), by its PID."""
    if _gone(pid):
        return
    os.kill(pid, signal.SIGTERM)
    try:
        bed.wait_for(lambda: _gone(pid), 5, 0.05, what=f"pid {pid} to exit")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)


@dataclass
class Tui:
    """kvmdeck running in a private tmux server (its own socket)."""

    tmux: str
    sock: Path
    log: Path
    runtime_dir: Path
    raw: Path
    server_pid: int = 0
    pid: int = 0
    extra_pids: list[int] = field(default_factory=list)

    def cmd(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-S", str(self.sock), *args], capture_output=True, text=True, check=True
        ).stdout

    def fmt(self, what: str) -> str:
        return self.cmd("display-message", "-p", "-t", SESSION, what).strip()

    def screen(self) -> str:
        return self.cmd("capture-pane", "-p", "-t", SESSION)

    def keys(self, *keys: str) -> None:
        self.cmd("send-keys", "-t", SESSION, *keys)

    def assert_restored(self) -> None:
        """tmux's view (alternate screen, mouse) and the last mode changes kvmdeck wrote."""
        assert self.fmt("#{alternate_on}") == "0"
        assert self.fmt("#{mouse_any_flag}") == "0"
        out = self.raw.read_bytes()
        for on, off in RESTORED:  # each mode's last change turns it off (cursor: shows it)
            assert out.rfind(off) > out.rfind(on), (on, off)

    def wait(self, predicate, deadline_s: float, what: str):  # type: ignore[no-untyped-def]
        """bed.wait_for, with the screen and kvmdeck's log in the failure message."""
        try:
            return bed.wait_for(predicate, deadline_s, 0.05, what=what)
        except AssertionError as exc:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise AssertionError(f"{exc}\n--- screen:\n{self.screen()}\n--- log:\n{log}") from None

    def wait_screen(self, text: str, deadline_s: float = 30.0) -> None:
        self.wait(lambda: text in self.screen(), deadline_s, f"{text!r} on screen")


def _start(tmp_path: Path, env: dict[str, str], uri: str, runtime_dir: Path) -> Tui:
    tmux = need(bed.require_cmd, "tmux", "tmux")
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g remain-on-exit on\nset -g status off\n")
    tui = Tui(
        tmux, tmp_path / "tmux.sock", tmp_path / "kvmdeck.log", runtime_dir, tmp_path / "out.raw"
    )
    cfg = tmp_path / "config"
    cfg.mkdir(exist_ok=True)
    run_env = {
        **env,
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(cfg),  # no operator config: defaults (keep_viewers = false)
    }
    run_env.pop("LIBVIRT_DEFAULT_URI", None)
    run_env.pop("TMUX", None)
    command = f"exec {KVMDECK} -c '{uri}' --refresh 5 --log {tui.log}"
    argv = [tmux, "-S", str(tui.sock), "-f", str(conf), "new-session", "-d"]
    argv += ["-x", "200", "-y", "50", "-s", SESSION, command]
    subprocess.run(argv, env=run_env, check=True)
    tui.server_pid = int(tui.cmd("display-message", "-p", "#{pid}").strip())
    tui.pid = int(tui.fmt("#{pane_pid}"))
    # Everything kvmdeck writes to the terminal from here on (the final mode changes).
    tui.cmd("pipe-pane", "-t", SESSION, f"cat > {tui.raw}")
    return tui


@pytest.fixture()
def tui_factory(tmp_path: Path) -> Iterator[list[Tui]]:
    started: list[Tui] = []
    yield started
    for t in started:
        for pid in [*t.extra_pids, t.pid, t.server_pid]:
            if pid:
                _kill(pid)


def _open_viewer(tui: Tui, guest: str) -> int:
    """Filter the table to ``guest``, press ``v``, wait for remote-viewer to connect."""
    tui.wait(lambda: _row_shown(tui, guest), 30, f"the row of {guest}")
    tui.keys("/")
    # Type only once the filter box is up: on the main screen these letters are guest keys.
    tui.wait_screen("Esc clear")  # the filter box's placeholder
    tui.keys("-l", guest)
    tui.wait(lambda: _row_shown(tui, guest, alone=True), 30, "the one row left by the filter")
    # Enter moves the focus to the table; the filter box's border changes colour when it has.
    focused = _filter_border(tui)
    tui.keys("Enter")
    tui.wait(lambda: _filter_border(tui) != focused, 15, "the focus to leave the filter box")
    tui.keys("v")
    viewers = tui.wait(
        lambda: [p for p, comm in _children(tui.pid).items() if comm == "remote-viewer"],
        30,
        "kvmdeck to start remote-viewer",
    )
    assert len(viewers) == 1, viewers
    pid = viewers[0]
    tui.extra_pids.append(pid)
    # Connected: the launcher's log of this viewer says so.
    dirs = _private_dirs(tui.runtime_dir, tui.pid)
    assert len(dirs) == 1, dirs
    bed.wait_for(
        lambda: any("main channel: opened" in p.read_text() for p in dirs[0].glob("viewer-*.log")),
        30,
        0.1,
        what="the viewer to connect",
    )
    return pid


def _row_shown(tui: Tui, guest: str, alone: bool = False) -> bool:
    """The guest table shows ``guest``'s row (``alone``: and no other running guest)."""
    rows = [line.split()[0] for line in tui.screen().splitlines() if " running " in line]
    return guest in rows and (not alone or len(rows) == 1)


def _filter_border(tui: Tui) -> str:
    """The filter box's top border line, with its colours (``capture-pane -e``)."""
    lines = tui.cmd("capture-pane", "-p", "-e", "-t", SESSION).splitlines()
    return next((line for line in lines if "▔▔▔" in line), "")


def _assert_clean(tui: Tui, viewer: int, tunnel: int | None = None) -> None:
    t0 = time.monotonic()
    bed.wait_for(lambda: _gone(tui.pid), 10, 0.01, what="kvmdeck to exit")
    print(f"\nsignal → kvmdeck gone: {(time.monotonic() - t0) * 1000:.0f} ms")  # measured only
    bed.wait_for(lambda: _gone(viewer), 10, 0.05, what=f"remote-viewer {viewer} to exit")
    if tunnel is not None:
        bed.wait_for(lambda: _gone(tunnel), 10, 0.05, what=f"ssh tunnel {tunnel} to exit")
    assert _private_dirs(tui.runtime_dir, tui.pid) == []
    assert list(tui.runtime_dir.rglob("*.vv")) == []
    # libvirt's own ssh (a qemu+ssh connection) ends on EOF once kvmdeck is gone: a moment later.
    bed.wait_for(
        lambda: not [p for p, c in _children(tui.pid).items() if c in ("remote-viewer", "ssh")],
        10,
        0.05,
        what="kvmdeck's ssh and viewer children to exit",
    )


@pytest.mark.parametrize("how", ["sighup", "sigterm", "sigterm-twice"])
def test_signal_with_a_viewer_open_leaves_nothing(
    how: str,
    spice_guest: bed.Guest,
    display_env: dict[str, str],
    runtime_dir: Path,
    tmp_path: Path,
    tui_factory: list[Tui],
) -> None:
    tui = _start(tmp_path, display_env, bed.SYSTEM_URI, runtime_dir)
    tui_factory.append(tui)
    bed.wait_for(lambda: tui.fmt("#{alternate_on}") == "1", 10, 0.05, what="the alternate screen")
    viewer = _open_viewer(tui, spice_guest.name)
    password = (spice_guest.password or "?").encode()
    assert password not in Path(f"/proc/{viewer}/cmdline").read_bytes()

    if how == "sighup":
        tui.cmd("kill-session", "-t", SESSION)  # the terminal goes away: SIGHUP
        _assert_clean(tui, viewer)
    else:
        os.kill(tui.pid, signal.SIGTERM)
        if how == "sigterm-twice":  # an impatient operator: the second one cleans up at once
            tui.wait(lambda: "SIGTERM: exiting" in tui.log.read_text(), 10, "the first SIGTERM")
            if not _gone(tui.pid):
                os.kill(tui.pid, signal.SIGTERM)
        _assert_clean(tui, viewer)
        # The pane stays (remain-on-exit): the terminal was handed back. tmux notices the
        # exit a moment after the process is gone.
        bed.wait_for(lambda: tui.fmt("#{pane_dead}") == "1", 10, 0.05, what="tmux: pane dead")
        tui.assert_restored()
    log = tui.log.read_text()
    assert ("SIGHUP" if how == "sighup" else "SIGTERM") + ": exiting" in log
    if how != "sigterm-twice":
        assert "synchronously" not in log  # the normal exit path, not the last resort
    assert password.decode() not in log


@pytest.mark.sshd
def test_sigterm_closes_the_ssh_tunnel(
    spice_guest: bed.Guest,
    display_env: dict[str, str],
    runtime_dir: Path,
    tmp_path: Path,
    tui_factory: list[Tui],
    sshd: bed.Sshd,
) -> None:
    tui = _start(tmp_path, display_env, sshd.uri, runtime_dir)
    tui_factory.append(tui)
    viewer = _open_viewer(tui, spice_guest.name)
    ssh = [p for p, c in _children(tui.pid).items() if c == "ssh"]  # libvirt's and the master
    tui.extra_pids += ssh
    master = b"ControlMaster=yes"  # the viewers' one ssh connection to the host (issue 23)
    tunnels = [p for p in ssh if master in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")]
    assert len(tunnels) == 1, _children(tui.pid)
    os.kill(tui.pid, signal.SIGTERM)
    _assert_clean(tui, viewer, tunnels[0])
    for pid in ssh:  # libvirt's own ssh ends with the connection
        bed.wait_for(lambda pid=pid: _gone(pid), 10, 0.05, what=f"ssh {pid} to exit")
    tui.assert_restored()


def test_ctrl_c_quits_and_restores_the_terminal(
    libvirtd,  # type: ignore[no-untyped-def]
    display_env: dict[str, str],
    runtime_dir: Path,
    tmp_path: Path,
    tui_factory: list[Tui],
) -> None:
    tui = _start(tmp_path, display_env, bed.SYSTEM_URI, runtime_dir)
    tui_factory.append(tui)
    tui.wait_screen("qemu:///system")
    bed.wait_for(lambda: tui.fmt("#{alternate_on}") == "1", 10, 0.05, what="the alternate screen")
    tui.keys("C-c")
    bed.wait_for(lambda: _gone(tui.pid), 10, 0.05, what="kvmdeck to exit on Ctrl+C")
    tui.assert_restored()


def test_next_start_sweeps_a_dead_kvmdecks_dir_not_a_live_ones(
    libvirtd,  # type: ignore[no-untyped-def]
    display_env: dict[str, str],
    runtime_dir: Path,
    tmp_path: Path,
    tui_factory: list[Tui],
) -> None:
    """A kvmdeck killed with SIGKILL (a real process, really killed) left its dir and a .vv."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)}
    code = (
        "import os, sys, time\n"
        "from tui.adapters.launch.privdir import make_private_dir\n"
        "d = make_private_dir(os.environ)\n"
        "(d / 'g-0.vv').write_text('[virt-viewer]\\npassword=x\\n')\n"
        "print(d, flush=True)\n"
        "time.sleep(300)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        dead_dir, live_dir = (Path(p.stdout.readline().decode().strip()) for p in procs)  # type: ignore[union-attr]
        procs[0].send_signal(signal.SIGKILL)  # died without cleaning up
        procs[0].wait(5)
        assert dead_dir.exists() and not owner_alive(dead_dir)
        assert owner_alive(live_dir)

        tui = _start(tmp_path, display_env, bed.SYSTEM_URI, runtime_dir)
        tui_factory.append(tui)
        bed.wait_for(lambda: not dead_dir.exists(), 15, 0.05, what="the sweep of the dead dir")
        tui.wait_screen("qemu:///system")
        assert live_dir.exists() and (live_dir / "g-0.vv").exists()
        assert "swept 1 stale private dir(s)" in tui.log.read_text()
        tui.keys("q")
        bed.wait_for(lambda: _gone(tui.pid), 10, 0.05, what="kvmdeck to quit")
        assert live_dir.exists()
    finally:
        for p in procs:
            bed.stop_process(p)  # type: ignore[arg-type]


def test_sweep_rules(tmp_path: Path) -> None:
    """Only kvmdeck-<pid>-… directories of this uid whose owner is gone; never a live one."""
    base = tmp_path / "base"
    base.mkdir()
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    mine = make_private_dir(env)  # this process: live
    assert mine.parent == tmp_path / "kvmdeck" and (mine.stat().st_mode & 0o777) == 0o700
    assert (mine / OWNER_FILE).read_text().split()[0] == str(os.getpid())
    dead_pid = _a_dead_pid()
    live = subprocess.Popen(["sleep", "60"])
    try:
        stale = _dir(base, dead_pid, "stale000")
        (stale / "x.vv").write_text("password=x")
        live_ok = _dir(base, live.pid, "liveok00", f"{live.pid} {_start_time(live.pid)}")
        live_new = _dir(base, live.pid, "noowner0")  # being made right now: no owner file yet
        reused = _dir(base, live.pid, "reused00", f"{live.pid} 1")  # that pid, another process
        foreign = _dir(base, dead_pid, "nobody00")
        if os.getuid() == 0:
            os.chown(foreign, 65534, 65534)
        unrelated = base / "kvmdeck-bench.json"
        unrelated.write_text("{}")
        link = base / f"kvmdeck-{dead_pid}-symlink0"
        link.symlink_to(mine)

        result = sweep_stale(env, bases=[base, tmp_path / "kvmdeck"])
        assert sorted(result.removed) == sorted(
            [stale, reused] + ([] if os.getuid() == 0 else [foreign])
        )
        assert mine.exists() and live_ok.exists() and live_new.exists()
        assert unrelated.exists() and link.is_symlink()
        if os.getuid() == 0:
            assert foreign.exists()
    finally:
        bed.stop_process(live)  # type: ignore[arg-type]


def test_sweep_cost(tmp_path: Path) -> None:
    """Measured, not timed: the sweep scans a temp dir of 5000 unrelated entries plus 20 dirs."""
    for i in range(5000):
        (tmp_path / f"other-{i}").write_text("")
    dead = _a_dead_pid()
    for i in range(20):
        _dir(tmp_path, dead, f"d{i:07d}")
    result = sweep_stale({}, bases=[tmp_path])
    assert len(result.removed) == 20
    print(f"\nsweep of 5020 entries, 20 removed: {result.seconds * 1000:.1f} ms")
    result = sweep_stale({}, bases=[tmp_path])
    print(f"sweep of 5000 entries, nothing to remove: {result.seconds * 1000:.1f} ms")


def _dir(base: Path, pid: int, tag: str, owner: str | None = None) -> Path:
    path = base / f"kvmdeck-{pid}-{tag}"
    path.mkdir(mode=0o700)
    if owner is not None:
        (path / OWNER_FILE).write_text(owner + "\n")
    return path


def _start_time(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rfind(b")") + 2 :].split()[19].decode()


def _a_dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.mark.sshd
@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep_viewers"])
def test_kill_9_takes_the_viewer_and_its_tunnel_along(
    keep: bool,
    spice_guest: bed.Guest,
    display_env: dict[str, str],
    runtime_dir: Path,
    tmp_path: Path,
    tui_factory: list[Tui],
    sshd: bed.Sshd,
) -> None:
    """SIGKILL gives kvmdeck no chance to clean up: the viewer and its ssh tunnel end anyway
    (PR_SET_PDEATHSIG, set by the long-lived spawner thread's children), unless
    ``keep_viewers = true`` asks to keep them."""
    if keep:
        (tmp_path / "config" / "kvmdeck").mkdir(parents=True)
        (tmp_path / "config" / "kvmdeck" / "config.toml").write_text("keep_viewers = true\n")
    tui = _start(tmp_path, display_env, sshd.uri, runtime_dir)
    tui_factory.append(tui)
    viewer = _open_viewer(tui, spice_guest.name)
    ssh = [p for p, c in _children(tui.pid).items() if c == "ssh"]  # libvirt's and the master
    tui.extra_pids += ssh
    master = b"ControlMaster=yes"  # the viewers' one ssh connection to the host (issue 23)
    tunnels = [p for p in ssh if master in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")]
    assert len(tunnels) == 1, _children(tui.pid)
    os.kill(tui.pid, signal.SIGKILL)
    bed.wait_for(lambda: _gone(tui.pid), 10, 0.01, what="kvmdeck to die")
    t0 = time.monotonic()
    if keep:
        time.sleep(2.0)  # what the default case allows them: they must still run after it
        assert not _gone(viewer) and not _gone(tunnels[0])
        return  # tui_factory stops them by pid
    bed.wait_for(lambda: _gone(viewer), 5, 0.02, what=f"remote-viewer {viewer} to exit")
    bed.wait_for(lambda: _gone(tunnels[0]), 5, 0.02, what=f"ssh tunnel {tunnels[0]} to exit")
    print(f"\nkill -9 → viewer and tunnel gone: {(time.monotonic() - t0) * 1000:.0f} ms")
