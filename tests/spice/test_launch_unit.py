"""The launcher's pure parts: .vv files, ssh tunnel commands, client instructions, log lines."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable

from tests.support.fixed import RunnerApp
from tui.adapters.launch import (
    ClientInstructions,
    Launcher,
    LaunchError,
    SshEndpoint,
    ViewerState,
    classify_log_line,
    client_instructions,
    private_dir,
    vv_text,
    write_vv,
)
from tui.adapters.libvirt.graphics import DisplayTarget
from tui.ui.screens.console import ClientCommandDialog, ViewersScreen

PASSWORD = "s3cr3t-Pw"
# SPICE: the viewer auto-redirects the operator's USB devices (no keyboards or mice).
USB = "'--spice-usbredir-auto-redirect-filter=0x03,-1,-1,-1,0|-1,-1,-1,-1,1'"
TARGET = DisplayTarget(
    guest="web1", hostname="hv1", type="spice", host="127.0.0.1", port=5901, password=PASSWORD
)


def test_vv_file_is_0600_and_complete(tmp_path: Path) -> None:
    old = os.umask(0)  # the mode comes from os.open, not from a lucky umask
    try:
        path = write_vv(TARGET, tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().splitlines() == [
        "[virt-viewer]",
        "type=spice",
        "host=127.0.0.1",
        "port=5901",
        f"password={PASSWORD}",
        "title=web1 on hv1",
        "enable-usb-autoshare=1",
        "usb-filter=0x03,-1,-1,-1,0|-1,-1,-1,-1,1",
        "delete-this-file=1",
    ]


def test_vv_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.adapters.launch.vvfile.secrets.token_hex", lambda _n: "same")
    write_vv(TARGET, tmp_path)
    with pytest.raises(FileExistsError):
        write_vv(TARGET, tmp_path)


def test_vv_tls_socket_and_escaping() -> None:
    t = DisplayTarget("g", "h", "spice", None, None, socket="/run/x.sock", password="a\nb")
    text = vv_text(t)
    assert "unix-path=/run/x.sock" in text and "host=" not in text
    assert "password=a\\nb" in text  # GKeyFile escape: one line, no injected key
    t2 = DisplayTarget("g", "h", "spice", "127.0.0.1", 5900, tls_port=5901)
    assert "tls-port=5901" in vv_text(t2) and "password" not in vv_text(t2)


def test_private_dir_prefers_xdg_runtime_dir(tmp_path: Path) -> None:
    """One directory per process, named for its pid, 0700, with an owner file (pid, start)."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    d = private_dir({"XDG_RUNTIME_DIR": str(run)})
    assert d.parent == run / "kvmdeck" and stat.S_IMODE(d.parent.stat().st_mode) == 0o700
    assert d.name.startswith(f"kvmdeck-{os.getpid()}-") and stat.S_IMODE(d.stat().st_mode) == 0o700
    assert (d / "owner").read_text().split()[0] == str(os.getpid())
    assert private_dir({"XDG_RUNTIME_DIR": str(run)}) != d  # a second launcher: its own
    other = private_dir({})
    try:
        assert other.parent == Path(tempfile.gettempdir())
        assert other.name.startswith(f"kvmdeck-{os.getpid()}-")
        assert stat.S_IMODE(other.stat().st_mode) == 0o700
    finally:
        shutil.rmtree(other)


def test_shutdown_is_idempotent_and_refuses_new_viewers(tmp_path: Path) -> None:
    """A real process stands in for a viewer here: shutdown stops it, removes the dir, and
    a late console worker cannot start anything after it."""
    lau = Launcher(env={"XDG_RUNTIME_DIR": str(tmp_path), "PATH": os.defpath})
    directory = lau.directory
    proc = lau._spawn(["sleep", "60"], directory / "x.log")
    lau.shutdown()
    assert proc.poll() is not None and not directory.exists()
    lau.shutdown()  # again: nothing to do, no error
    with pytest.raises(LaunchError, match="quitting"):
        lau._spawn(["sleep", "60"], tmp_path / "late.log")
    with pytest.raises(LaunchError, match="quitting"):
        _ = lau.directory


def test_tunnel_command_for_ssh_uri() -> None:
    ssh = SshEndpoint.from_uri("qemu+ssh://user@host:2222/system?keyfile=/home/u/.ssh/kvm")
    assert (ssh.user, ssh.host, ssh.port, ssh.keyfile, ssh.verify) == (
        "user",
        "host",
        2222,
        "/home/u/.ssh/kvm",
        True,
    )
    assert ssh.tunnel_argv([(40123, "127.0.0.1:5900")]) == [
        "ssh",
        "-N",
        "-o",
        "BatchMode=yes",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=3",
        "-p",
        "2222",
        "-i",
        "/home/u/.ssh/kvm",
        "-l",
        "user",
        "-L",
        "127.0.0.1:40123:127.0.0.1:5900",
        "host",
    ]


def test_no_verify_turns_off_strict_host_keys() -> None:
    argv = SshEndpoint.from_uri("qemu+ssh://h/system?no_verify=1").tunnel_argv([(1, "/s")])
    assert "StrictHostKeyChecking=no" in argv and "-p" not in argv and "-l" not in argv


def _assert_clean(ins: ClientInstructions) -> None:
    assert PASSWORD not in ins.text and all(PASSWORD not in n for n in ins.notes)


def test_instructions_for_local_uri_over_ssh_session() -> None:
    env = {"SSH_CONNECTION": "198.51.100.7 51234 192.0.2.10 22", "USER": "ops"}
    ins = client_instructions(TARGET, "qemu:///system", env)
    assert ins.commands == [
        f"virt-viewer {USB} --connect qemu+ssh://ops@192.0.2.10/system web1",
        "ssh -N -L 5901:127.0.0.1:5901 ops@192.0.2.10",
        f"remote-viewer {USB} spice://127.0.0.1:5901",
    ]
    assert any("password" in n and "virsh dumpxml --security-info web1" in n for n in ins.notes)
    _assert_clean(ins)


def test_instructions_keep_a_non_default_ssh_port() -> None:
    env = {"SSH_CONNECTION": "198.51.100.7 51234 192.0.2.10 2200", "USER": "ops"}
    ins = client_instructions(TARGET, None, env)
    assert ins.commands[0] == (
        f"virt-viewer {USB} --connect qemu+ssh://ops@192.0.2.10:2200/system web1"
    )
    assert ins.commands[1] == "ssh -N -L 5901:127.0.0.1:5901 -p 2200 ops@192.0.2.10"


def test_instructions_for_remote_uri_drop_local_key_file() -> None:
    uri = "qemu+ssh://user@host:2222/system?keyfile=/root/.ssh/k&no_tty=1"
    ins = client_instructions(TARGET, uri, {"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"})
    assert ins.commands == [
        f"virt-viewer {USB} --connect qemu+ssh://user@host:2222/system web1",
        "ssh -N -L 5901:127.0.0.1:5901 -p 2222 user@host",
        f"remote-viewer {USB} spice://127.0.0.1:5901",
    ]
    _assert_clean(ins)


def test_instructions_without_ssh_connection_never_guess_the_host_name() -> None:
    """Issue 22: libvirt's short host name ("hv1", "vm") may not resolve on a workstation; a
    local session nobody reached over ssh says THIS-HOST and what to put there."""
    ins = client_instructions(TARGET, "qemu:///system", {"USER": "ops"})
    assert "ops@THIS-HOST" in ins.commands[1] and "hv1" not in " ".join(ins.commands)
    assert "qemu+ssh://ops@THIS-HOST/system" in ins.commands[0]
    assert any(n.startswith("THIS-HOST: ") and "'hv1'" in n for n in ins.notes)
    assert ins.text.startswith("# With virt-viewer")


@pytest.mark.parametrize(
    ("line", "state", "detail"),
    [
        (
            "(remote-viewer:9613): virt-viewer-DEBUG: 07:49:39.001: main channel: opened",
            ViewerState.CONNECTED,
            "",
        ),
        (
            "(remote-viewer:9615): virt-viewer-DEBUG: 07:49:38.979: main channel: failed to "
            "connect Could not connect to 127.0.0.1: Connection refused",
            ViewerState.FAILED,
            "failed to connect Could not connect to 127.0.0.1: Connection refused",
        ),
        (
            "(remote-viewer:9614): virt-viewer-DEBUG: 07:49:39.036: main channel: auth failure "
            "(wrong username/password?)",
            ViewerState.FAILED,
            "authentication failed (wrong password?)",
        ),
        (
            "(remote-viewer:20772): virt-viewer-WARNING **: 08:04:49.912: vnc-session: got vnc "
            "error Authentication failed",
            ViewerState.FAILED,
            "Authentication failed",
        ),
        (
            "(remote-viewer:20228): virt-viewer-DEBUG: 08:04:34.874: desktop resize 720x400",
            ViewerState.CONNECTED,
            "",
        ),
    ],
)
def test_log_lines(line: str, state: ViewerState, detail: str) -> None:
    assert classify_log_line(line) == (state, detail)


def test_uninteresting_log_line() -> None:
    line = "(remote-viewer:1): virt-viewer-DEBUG: 07:49:38.908: notebook show status 0x5627"
    assert classify_log_line(line) is None


def test_missing_remote_viewer_names_the_package(tmp_path: Path) -> None:
    lau = Launcher(env={"PATH": str(tmp_path), "DISPLAY": ":99"}, directory=tmp_path)
    with pytest.raises(LaunchError, match=r"remote-viewer.*apt install virt-viewer"):
        lau.open_viewer(TARGET)
    assert not list(tmp_path.glob("*.vv"))


def test_remote_uri_without_ssh_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "remote-viewer"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    lau = Launcher(env={"PATH": str(tmp_path), "DISPLAY": ":99"}, directory=tmp_path)
    with pytest.raises(LaunchError, match="virt-viewer --connect qemu\\+tls://hv2/system web1"):
        lau.prepare(TARGET, "qemu+tls://hv2/system")


# -- the watcher and the screens, with a stand-in viewer (no X server needed) -----------------
def _fake_viewer(bindir: Path, script: str) -> dict[str, str]:
    bindir.mkdir(exist_ok=True)
    fake = bindir / "remote-viewer"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
    return {"PATH": f"{bindir}:/usr/bin:/bin", "DISPLAY": ":99", "XDG_RUNTIME_DIR": str(bindir)}


def test_viewer_that_exits_is_reported_and_dropped(tmp_path: Path) -> None:
    seen: list[ViewerState] = []
    lau = Launcher(env=_fake_viewer(tmp_path, "exit 3\n"), on_change=lambda i: seen.append(i.state))
    info = lau.wait(lau.open_viewer(TARGET), 10)
    assert info.state is ViewerState.EXITED and info.detail == "exit status 3"
    assert lau.viewers() == []
    assert not list(tmp_path.rglob("*.vv"))  # the launcher removes what the viewer did not
    lau.shutdown()


async def test_screens_with_a_stand_in_viewer(tmp_path: Path) -> None:
    script = (
        'echo "(remote-viewer:$$): virt-viewer-DEBUG: 00:00:00.000: main channel: opened" >&2\n'
        "exec sleep 60\n"
    )
    lau = Launcher(env=_fake_viewer(tmp_path, script))
    info = lau.wait(lau.open_viewer(TARGET), 10)
    assert info.state is ViewerState.CONNECTED

    class StandIn(RunnerApp, App[None]):
        pass

    app = StandIn()
    async with app.run_test() as pilot:
        await app.push_screen(ViewersScreen(lau))
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert [str(c) for c in table.get_row_at(0)[:2]] == ["web1", str(info.pid)]
        await pilot.press("x")
        for _ in range(100):
            if not Path(f"/proc/{info.pid}").exists():
                break
            await pilot.pause(0.05)
        assert not Path(f"/proc/{info.pid}").exists()
        await pilot.press("escape")
        ins = client_instructions(TARGET, "qemu:///system", {"USER": "ops"})
        await app.push_screen(ClientCommandDialog(ins))
        await pilot.press("c")
        assert app.clipboard == ins.text and PASSWORD not in app.clipboard
    lau.shutdown()
