"""The serial console over ``qemu+ssh://`` rides the host's one ssh connection (issue 23, item 5).

The real libvirtd behind an sshd on 127.0.0.1, a running guest with a pty serial port, a viewer's
tunnel up (the host's ssh master), and the real ``virsh console`` in a pseudo-terminal, run with
the argv and environment kvmdeck gives it. Without the launcher's ``ssh_command`` libvirt's ssh
opens a second TCP connection to the sshd; with it, that ssh is a session on the master, so the
sshd sees one connection. Bytes the guest's UART sends (written to its I/O port through the
QEMU monitor) arrive in the terminal; Ctrl+] ends virsh. Then the real binary in tmux: ``c``
on a remote guest gives virsh a ``command=`` URI and virsh's ssh is a client of the master.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import libvirt
import libvirt_qemu
import pytest

from testbed import bed
from tui.adapters.launch import Launcher
from tui.adapters.libvirt import serial
from tui.adapters.libvirt.graphics import resolve_display

pytestmark = [pytest.mark.libvirtd, pytest.mark.sshd]

MARK = b"kvmdeck-serialmux"


def _sshd_connections(port: int) -> int:
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True).stdout  # fmt: skip
    return len([line for line in out.splitlines() if line.strip()])


def _ssh_processes(port: int, keyfile: Path) -> int:
    """ssh clients to this sshd: its port on their command line, or a mux client of a master."""
    count = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(argv[0].decode(errors="replace")).name == "ssh" and (
            str(port).encode() in argv or str(keyfile).encode() in argv
        ):
            count += 1
    return count


def _read_until(fd: int, want: Callable[[bytes], bool], deadline_s: float, what: str) -> bytes:
    got = b""
    end = time.monotonic() + deadline_s
    while not want(got):
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not seen within {deadline_s} s; got {got!r}")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                got += os.read(fd, 4096)
            except OSError:  # EIO: virsh ended
                raise AssertionError(f"{what}: virsh ended; got {got!r}") from None
    return got


def _uart_send(dom: libvirt.virDomain, data: bytes) -> None:
    """The guest's COM1 transmits ``data``: each byte written to its THR (0x3f8) by the monitor."""
    for b in data:
        libvirt_qemu.qemuMonitorCommand(
            dom, f"o /b 0x3f8 {b:#x}", libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
        )


def _console(
    argv: list[str], env: dict[str, str], dom: libvirt.virDomain, sshd: bed.Sshd
) -> tuple[int, int]:
    """Run virsh console in a pty; while it is attached, (ssh processes, sshd connections).
    Asserts the guest's output arrives and that Ctrl+] ends virsh with status 0."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: virsh, as kvmdeck runs it in its terminal
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    try:
        _read_until(fd, lambda b: b"Escape character" in b, 30, "virsh connected")
        # QEMU notices the pty's reader within a second; send until the mark arrives
        got = b""
        end = time.monotonic() + 30
        while MARK not in got:
            assert time.monotonic() < end, f"the guest's output did not arrive: {got!r}"
            _uart_send(dom, MARK)
            try:
                got += _read_until(fd, lambda b: MARK in b, 1.5, "mark")
            except AssertionError as exc:
                if "virsh ended" in str(exc):
                    raise
        counts = (_ssh_processes(sshd.port, sshd.key), _sshd_connections(sshd.port))
        os.write(fd, b"\x1d")  # Ctrl+]
        bed.wait_for(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, 15, 0.1, what="virsh to end")
        pid = 0
        return counts
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def test_serial_console_rides_the_hosts_ssh_master(libvirtd, sshd: bed.Sshd) -> None:  # type: ignore[no-untyped-def]
    name = f"{bed.PREFIX}{os.getpid()}-serialmux"
    disk = bed.make_disk(name)
    xml = bed.guest_xml(name, disk, extra_devices="    <serial type='pty'/>\n")
    dom = libvirtd.createXML(xml, 0)
    guest = bed.Guest(name, dom.UUIDString(), disk, False)
    launcher = Launcher()
    try:
        # a viewer's tunnel to the host: its ssh master, the one connection to the sshd
        prepared = launcher.prepare(resolve_display(libvirtd, name, False), sshd.uri)
        assert prepared.tunnel is not None
        assert _sshd_connections(sshd.port) == 1

        argv, env = serial.command(sshd.uri, guest.uuid)
        assert "command=" not in env["LIBVIRT_DEFAULT_URI"]
        before = _console(argv, env, dom, sshd)

        argv, env = serial.command(sshd.uri, guest.uuid, launcher.ssh_command)
        wrapper = Path(env["LIBVIRT_DEFAULT_URI"].rsplit("command=", 1)[1])
        assert wrapper.parent == launcher.directory and wrapper.stat().st_mode & 0o777 == 0o700
        assert not any(str(wrapper) in a or sshd.uri in a for a in argv)
        after = _console(argv, env, dom, sshd)
        print(f"\nserial console with a viewer tunnel up: (ssh processes, sshd connections) "
              f"{before} -> {after}")  # fmt: skip
        assert before[1] == 2 and after[1] == 1
        assert _sshd_connections(sshd.port) == 1  # the master stays for the viewer

        directory = launcher.directory
        launcher.shutdown(keep_viewers=False)
        assert not wrapper.exists() and not directory.exists()
        bed.wait_for(lambda: _sshd_connections(sshd.port) == 0, 10, 0.1, what="the master to end")
    finally:
        launcher.shutdown(keep_viewers=False)
        bed.remove(libvirtd, guest)


def test_ssh_command_is_only_for_ssh_uris_and_keeps_the_users_own(sshd: bed.Sshd) -> None:
    """No master for a local or TLS URI, nor for one that names its own ``command=``."""
    launcher = Launcher()
    try:
        for uri in (None, "qemu:///system", "qemu+tls://h/system", f"{sshd.uri}&command=/bin/ssh"):
            assert launcher.ssh_command(uri) is None
        assert launcher._mux.masters() == []
    finally:
        launcher.shutdown(keep_viewers=False)


def _children(parent: int, comm: str) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if stat[stat.index("(") + 1 : stat.rindex(")")] == comm and int(fields[1]) == parent:
                found.append(int(d.name))
    return found


def test_real_kvmdeck_console_of_a_remote_guest_uses_the_master(libvirtd, sshd: bed.Sshd) -> None:  # type: ignore[no-untyped-def]
    """The real binary in tmux on a qemu+ssh:// host: ``c`` starts the host's master and
    virsh's ssh is a client of it (the UI passes the launcher's ssh command); Ctrl+] returns."""
    from tests.support.tmux import Term

    name = f"{bed.PREFIX}{os.getpid()}-smux"
    disk = bed.make_disk(name)
    xml = bed.guest_xml(name, disk, extra_devices="    <serial type='pty'/>\n")
    dom = libvirtd.createXML(xml, 0)
    guest = bed.Guest(name, dom.UUIDString(), disk, False)
    try:
        term = Term(["-c", sshd.uri, "--refresh", "1"], size=(160, 40))
        try:
            term.wait_screen(lambda s: name in s, 60, "the guest row")
            term.filter_to(name)  # the table has the focus again before "c"
            term.keys("c")
            term.wait_screen(lambda s: "Escape character" in s, 60, "virsh console connected")
            (virsh,) = _children(term.pid, "virsh")
            env = dict(
                kv.split(b"=", 1)
                for kv in Path(f"/proc/{virsh}/environ").read_bytes().split(b"\0")
                if b"=" in kv
            )
            assert b"command=" in env[b"LIBVIRT_DEFAULT_URI"]
            bed.wait_for(lambda: _children(virsh, "ssh"), 10, 0.1, what="virsh's ssh")
            (ssh,) = _children(virsh, "ssh")
            argv = Path(f"/proc/{ssh}/cmdline").read_bytes().split(b"\0")
            assert b"ControlMaster=no" in argv
            # kvmdeck's own libvirt connection and the master: virsh adds none
            connections = _sshd_connections(sshd.port)
            print(f"\nsshd connections with the console of a remote guest open: {connections}")
            assert connections == 2
            term.keys("C-]")
            term.wait_screen(
                lambda s: "Name" in s and "Escape character" not in s, 15, "kvmdeck back"
            )
            bed.wait_for(lambda: not _children(term.pid, "virsh"), 15, 0.1, what="virsh gone")
        finally:
            term.close()
    finally:
        bed.remove(libvirtd, guest)
