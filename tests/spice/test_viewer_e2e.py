"""End to end: a real TCG guest with a SPICE password, a real remote-viewer on a private Xvfb.

Every viewer (and ssh tunnel) is stopped by its PID; the test asserts the PID is gone.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import libvirt
import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from testbed import bed
from testbed.bed import Sshd
from tests.support.apps import app_until
from tests.support.fixed import RunnerApp
from tui.adapters.launch import (
    ClientInstructions,
    Launcher,
    LaunchError,
    ViewerOpened,
    ViewerState,
    free_local_port,
    open_console,
)
from tui.adapters.libvirt.connection import open_connection
from tui.adapters.libvirt.graphics import DisplayError, resolve_display
from tui.ui.screens.console import ClientCommandDialog, ViewersScreen

pytestmark = [pytest.mark.libvirtd, pytest.mark.xvfb]

USB = "'--spice-usbredir-auto-redirect-filter=0x03,-1,-1,-1,0|-1,-1,-1,-1,1'"

Outcome = ViewerOpened | ClientInstructions | DisplayError | LaunchError


class ConsoleApp(RunnerApp, App[None]):
    """The smallest app that opens a console the way kvmdeck does: key → thread worker."""

    BINDINGS = [Binding("v", "open_console", "Console", id="guest.console")]

    def __init__(
        self, conn: libvirt.virConnect, name: str, uri: str, readonly: bool, launcher: Launcher
    ) -> None:
        super().__init__()
        self.conn, self.guest, self.uri, self.readonly = conn, name, uri, readonly
        self.launcher = launcher
        self.outcome: Outcome | None = None
        self.pressed_at = self.done_at = 0.0

    def compose(self) -> ComposeResult:
        yield Static("console test")

    def action_open_console(self) -> None:
        self.pressed_at = time.monotonic()
        self.run_worker(self._open, thread=True, group="console")

    def _open(self) -> None:
        outcome: Outcome
        try:
            outcome = open_console(self.conn, self.guest, self.uri, self.readonly, self.launcher)
        except (DisplayError, LaunchError) as exc:
            outcome = exc
        self.call_from_thread(self._opened, outcome)

    def _opened(self, outcome: Outcome) -> None:
        self.done_at = time.monotonic()
        self.outcome = outcome
        if isinstance(outcome, ClientInstructions):
            self.push_screen(ClientCommandDialog(outcome))


def _proc_text(pid: int, what: str) -> bytes:
    return Path(f"/proc/{pid}/{what}").read_bytes()


def _assert_secret_free(pid: int, password: str) -> None:
    assert password.encode() not in _proc_text(pid, "cmdline")
    assert password.encode() not in _proc_text(pid, "environ")


def _windows(display: str) -> str:
    return subprocess.run(
        ["xwininfo", "-root", "-tree"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_vv_is_written_0600_then_viewer_connects(
    libvirtd,
    spice_guest: bed.Guest,
    launcher: Launcher,
    xvfb: str,
    runtime_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    password = spice_guest.password or ""
    target = resolve_display(libvirtd, spice_guest.name, readonly=False)
    prepared = launcher.prepare(target)
    vv = prepared.vv_path
    assert vv.parent.parent == runtime_dir / "kvmdeck"  # kvmdeck-<pid>-XXXXXXXX, 0700
    assert vv.parent.name.startswith(f"kvmdeck-{os.getpid()}-")
    assert stat.S_IMODE(vv.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(vv.stat().st_mode) == 0o600
    text = vv.read_text()
    assert text.startswith("[virt-viewer]\ntype=spice\nhost=127.0.0.1\n")
    assert f"port={target.port}\n" in text and f"password={password}\n" in text
    assert f"title={spice_guest.name} on {target.hostname}\n" in text
    assert "delete-this-file=1" in text

    info = launcher.spawn(prepared)
    _assert_secret_free(info.pid, password)
    info = launcher.wait(info, 20)
    assert info.state is ViewerState.CONNECTED, info.detail
    bed.wait_for(lambda: not vv.exists(), 5, what="remote-viewer to delete the .vv")
    bed.wait_for(lambda: target.title in _windows(xvfb), 10, what="the viewer window")
    log_path = launcher.log_path(info)
    assert log_path is not None and "main channel: opened" in log_path.read_text()
    assert password not in log_path.read_text()

    launcher.close(info)
    assert _gone(info.pid)
    assert launcher.viewers() == []


async def test_key_opens_console_and_viewers_screen_closes_it(
    libvirtd,
    spice_guest: bed.Guest,
    launcher: Launcher,
    xvfb: str,  # type: ignore[no-untyped-def]
) -> None:
    app = ConsoleApp(libvirtd, spice_guest.name, bed.SYSTEM_URI, False, launcher)
    async with app.run_test() as pilot:
        await pilot.press("v")
        outcome = await app_until(pilot, lambda: app.outcome, "open_console", 30)
        assert isinstance(outcome, ViewerOpened), outcome
        assert outcome.viewer.state is ViewerState.CONNECTED, outcome.message
        pid = outcome.viewer.pid
        latency = app.done_at - app.pressed_at
        print(
            f"\nkey → connected: {latency * 1000:.0f} ms (spawn → opened {outcome.viewer.connect_s:.3f} s)"
        )
        assert "open" in outcome.message
        _assert_secret_free(pid, spice_guest.password or "")

        await app.push_screen(ViewersScreen(launcher))
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert str(row[0]) == spice_guest.name and str(row[1]) == str(pid)  # Text cells
        assert str(row[3]).startswith("connected")

        await pilot.press("x")
        await app_until(pilot, lambda: _gone(pid), f"viewer pid {pid} to exit", 10)
        await app_until(pilot, lambda: table.row_count == 0, "the row to go", 5)
        assert launcher.viewers() == []
        await pilot.press("escape")


def test_wrong_port_is_reported_as_failure(
    libvirtd,
    spice_guest: bed.Guest,
    launcher: Launcher,  # type: ignore[no-untyped-def]
) -> None:
    target = resolve_display(libvirtd, spice_guest.name, readonly=False)
    bad = dataclasses.replace(target, port=free_local_port())
    info = launcher.wait(launcher.open_viewer(bad), 20)
    assert info.state is ViewerState.FAILED
    assert "Connection refused" in info.detail
    assert not _gone(info.pid)  # remote-viewer waits for the user after a failure
    assert [v.state for v in launcher.viewers()] == [ViewerState.FAILED]
    launcher.close(info)
    assert _gone(info.pid)


def test_vnc_fallback_connects_and_wrong_password_fails(
    libvirtd,
    vnc_guest: bed.Guest,
    launcher: Launcher,  # type: ignore[no-untyped-def]
) -> None:
    result = open_console(libvirtd, vnc_guest.name, bed.SYSTEM_URI, False, launcher)
    assert isinstance(result, ViewerOpened)
    assert result.viewer.state is ViewerState.CONNECTED, result.viewer.detail
    target = resolve_display(libvirtd, vnc_guest.name, readonly=False)
    assert target.type == "vnc"
    log_path = launcher.log_path(result.viewer)
    assert log_path is not None and (vnc_guest.password or "?") not in log_path.read_text()
    bad = launcher.wait(launcher.open_viewer(dataclasses.replace(target, password="wrong")), 20)
    assert bad.state is ViewerState.FAILED and "Authentication failed" in bad.detail
    for info in (result.viewer, bad):
        launcher.close(info)
        assert _gone(info.pid)


def test_read_only_connection_lets_the_viewer_ask(
    spice_guest: bed.Guest,
    launcher: Launcher,  # type: ignore[no-untyped-def]
) -> None:
    ro = open_connection(bed.SYSTEM_URI, readonly=True)
    try:
        result = open_console(ro, spice_guest.name, bed.SYSTEM_URI, True, launcher)
    finally:
        ro.close()
    assert isinstance(result, ViewerOpened)
    # No password in the .vv: the SPICE server refuses, remote-viewer shows its password dialog.
    assert result.viewer.state is ViewerState.FAILED
    assert "authentication failed" in result.viewer.detail
    launcher.close(result.viewer)
    assert _gone(result.viewer.pid)


async def test_headless_session_shows_the_client_command(
    libvirtd,
    spice_guest: bed.Guest,
    headless_env: dict[str, str],
    runtime_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    lau = Launcher(env=headless_env)
    app = ConsoleApp(libvirtd, spice_guest.name, bed.SYSTEM_URI, False, lau)
    password = spice_guest.password or ""
    async with app.run_test() as pilot:
        await pilot.press("v")
        outcome = await app_until(pilot, lambda: app.outcome, "open_console", 30)
        assert isinstance(outcome, ClientInstructions), outcome
        await pilot.pause()
        assert isinstance(app.screen, ClientCommandDialog)
        port = resolve_display(libvirtd, spice_guest.name, False).port
        assert outcome.commands == [
            f"virt-viewer {USB} --connect qemu+ssh://ops@192.0.2.10/system {spice_guest.name}",
            f"ssh -N -L {port}:127.0.0.1:{port} ops@192.0.2.10",
            f"remote-viewer {USB} spice://127.0.0.1:{port}",
        ]
        shown = " ".join(str(s.content) for s in app.screen.query(Static))
        assert outcome.commands[0] in shown and password not in shown
        await pilot.press("c")
        assert app.clipboard == outcome.text and password not in app.clipboard
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ClientCommandDialog)
    assert lau.viewers() == []
    assert not list(runtime_dir.rglob("*.vv"))


def test_missing_remote_viewer_is_a_clear_error(
    libvirtd,
    spice_guest: bed.Guest,
    display_env: dict[str, str],
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    lau = Launcher(env={**display_env, "PATH": str(empty)})
    with pytest.raises(LaunchError) as err:
        open_console(libvirtd, spice_guest.name, bed.SYSTEM_URI, False, lau)
    assert "remote-viewer" in str(err.value) and "apt install virt-viewer" in str(err.value)
    assert lau.viewers() == []


@pytest.mark.sshd
def test_remote_host_through_ssh_tunnel(
    spice_guest: bed.Guest,
    launcher: Launcher,
    sshd: Sshd,  # type: ignore[no-untyped-def]
) -> None:
    """qemu+ssh:// to an sshd on loopback: the display is reached through an ssh -L tunnel."""
    password = spice_guest.password or ""
    conn = open_connection(sshd.uri)
    try:
        remote_port = resolve_display(conn, spice_guest.name, False).port
        result = open_console(conn, spice_guest.name, sshd.uri, False, launcher, wait_s=30)
    finally:
        conn.close()
    assert isinstance(result, ViewerOpened)
    info = result.viewer
    assert info.state is ViewerState.CONNECTED, info.detail
    print(f"\nssh tunnel + viewer → connected: {result.elapsed_s * 1000:.0f} ms")
    assert info.tunnel_pid is not None  # the host's ssh master (one per remote host)
    master_argv = _proc_text(info.tunnel_pid, "cmdline").decode().split("\0")
    assert master_argv[1] == "-N" and "BatchMode=yes" in master_argv
    assert "ControlMaster=yes" in master_argv and str(sshd.key) in master_argv
    local = _forwarded_port(launcher, info.id)
    assert launcher._viewers[info.id].tunnel.specs[0].endswith(f":127.0.0.1:{remote_port}")  # type: ignore[union-attr]
    for pid in (info.pid, info.tunnel_pid):
        _assert_secret_free(pid, password)

    # The user closes the viewer window: the launcher notices and cancels its forward; the
    # master stays for the next viewer of this host until kvmdeck quits.
    os.kill(info.pid, signal.SIGTERM)
    bed.wait_for(lambda: launcher.viewers() == [], 5, what="the viewer to leave the list")
    bed.wait_for(lambda: not _listening(local), 10, what="the forward to be cancelled")
    assert _gone(info.pid) and not _gone(info.tunnel_pid)
    launcher.shutdown(keep_viewers=False)
    bed.wait_for(lambda: _gone(info.tunnel_pid), 10, what="the master to exit on quit")  # type: ignore[arg-type]


def _forwarded_port(launcher: Launcher, vid: int) -> int:
    v = launcher._viewers[vid]
    assert v.tunnel is not None
    return int(v.tunnel.specs[0].split(":")[1])  # type: ignore[union-attr]


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _ssh_children() -> list[int]:
    """This process's ssh children (the launcher's: masters, tunnels)."""
    me = str(os.getpid())
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat_line = (d / "stat").read_text()
            except OSError:
                continue
            comm = stat_line[stat_line.index("(") + 1 : stat_line.rindex(")")]
            fields = stat_line.rsplit(")", 1)[1].split()
            if comm == "ssh" and fields[1] == me:
                out.append(int(d.name))
    return out


def _sshd_connections(port: int) -> int:
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True).stdout  # fmt: skip
    return len([line for line in out.splitlines() if line.strip()])


@pytest.mark.sshd
def test_three_viewers_on_one_host_share_one_ssh_connection(
    libvirtd,
    spice_guest: bed.Guest,
    launcher: Launcher,
    sshd: Sshd,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 23: three viewers' tunnels to one qemu+ssh:// host are one ssh process and one
    TCP connection to its sshd (ControlMaster in the private directory, ``ssh -O forward``),
    not three of each; quitting leaves no ssh and no control socket."""
    target = resolve_display(libvirtd, spice_guest.name, False)
    earlier = set(_ssh_children())  # e.g. an earlier test's qemu+ssh libvirt connection
    before = (len(earlier), _sshd_connections(sshd.port))
    infos = [launcher.spawn(launcher.prepare(target, sshd.uri)) for _ in range(3)]
    ports = [_forwarded_port(launcher, i.id) for i in infos]
    assert len(set(ports)) == 3 and all(_listening(p) for p in ports)
    ssh = _ssh_children()
    after = (len(ssh), _sshd_connections(sshd.port))
    print(f"\nssh processes, sshd connections for 3 viewers: {before} -> {after}")
    assert after[0] - before[0] == 1 and after[1] - before[1] == 1
    assert {i.tunnel_pid for i in infos} <= set(ssh)  # one master for the three
    argv = _proc_text(infos[0].tunnel_pid, "cmdline").decode().split("\0")  # type: ignore[arg-type]
    control = Path(next(a for a in argv if a.startswith("ControlPath="))[len("ControlPath=") :])
    assert stat.S_ISSOCK(control.stat().st_mode) and control.parent.stat().st_mode & 0o077 == 0
    directory = launcher.directory
    launcher.shutdown(keep_viewers=False)
    for pid in set(ssh) - earlier:  # the launcher's own: the master
        bed.wait_for(lambda pid=pid: _gone(pid), 10, what=f"ssh {pid} to exit")
    assert not directory.exists() and not control.exists() and not control.parent.exists()
