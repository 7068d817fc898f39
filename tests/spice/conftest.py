"""Fixtures for the SPICE console tests: Xvfb, remote-viewer, a guest with a password, sshd.

Every process started here is stopped by its PID at teardown. A missing component skips
(naming the Debian package) outside CI and fails with CI=true.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from testbed import bed
from tests.conftest import need
from tui.adapters.launch import Launcher


def stop_pid(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM one process by PID, SIGKILL after ``grace_s``, reap it."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def start_xvfb(deadline_s: float = 20.0) -> tuple[subprocess.Popen[bytes], str]:
    """``Xvfb -displayfd FD``: the server picks a free display and writes its number to FD."""
    path = bed.require_cmd("Xvfb", "xvfb")
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [path, "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        os.close(write_fd)
    data = b""
    end = time.monotonic() + deadline_s
    try:
        while not data.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                stop_pid(proc)
                raise RuntimeError(f"Xvfb gave no display number within {deadline_s} s")
            ready, _, _ = select.select([read_fd], [], [], left)
            if ready:
                chunk = os.read(read_fd, 64)
                if not chunk:
                    stop_pid(proc)
                    raise RuntimeError("Xvfb closed -displayfd without a display number")
                data += chunk
    finally:
        os.close(read_fd)
    return proc, f":{int(data.strip())}"


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """A private X server; yields its DISPLAY (e.g. ':3')."""
    proc, display = need(start_xvfb)
    yield display
    stop_pid(proc)


@pytest.fixture(scope="session")
def viewer_tools() -> None:
    need(bed.require_cmd, "remote-viewer", "virt-viewer")
    need(bed.require_cmd, "xwininfo", "x11-utils")


@pytest.fixture(scope="session")
def spice_guests() -> Iterator[list[bed.Guest]]:
    """The SPICE guests this session made (one, unless QEMU lost one: see spice_guest)."""
    made: list[bed.Guest] = []
    yield made
    conn, _ = bed.ensure_libvirtd()
    for g in made:
        bed.remove(conn, g)


def _running(conn, guest: bed.Guest) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(conn.lookupByName(guest.name).isActive())
    except libvirt.libvirtError:
        return False


@pytest.fixture()
def spice_guest(libvirtd, spice_guests: list[bed.Guest]) -> bed.Guest:  # type: ignore[no-untyped-def]
    """A running TCG guest with SPICE on 127.0.0.1 and a random password, shared by the tests.

    QEMU 7.2's SPICE server (libspice-server 0.15.1, Debian 12) sometimes segfaults in its
    "SPICE Worker" thread when a viewer connects or leaves while the guest boots (dmesg: a NULL
    read in libspice-server.so; libvirt logs the guest "shutting down, reason=crashed"): seen
    in 5 of about 25 runs here, never from kvmdeck's side of the socket. A test that needs the
    guest then gets a new one, and the loss is reported as a warning, not hidden."""
    if spice_guests and _running(libvirtd, spice_guests[-1]):
        return spice_guests[-1]
    if spice_guests:
        warnings.warn(
            f"{spice_guests[-1].name} is no longer running (QEMU's SPICE server crashed it? "
            "see dmesg and /var/log/libvirt/qemu/): a new SPICE guest for the next tests",
            stacklevel=1,
        )
    g = bed.create_transient(
        libvirtd, len(spice_guests), password=f"pw{secrets.token_hex(8)}", tag="sp"
    )
    spice_guests.append(g)
    return g


@pytest.fixture(scope="session")
def vnc_guest(libvirtd) -> Iterator[bed.Guest]:  # type: ignore[no-untyped-def]
    """A running TCG guest with only VNC (the fallback), password of 8 characters (VNC's limit)."""
    name = f"{bed.PREFIX}{os.getpid()}-vnc0"
    disk = bed.make_disk(name)
    password = secrets.token_hex(4)
    xml = bed.guest_xml(name, disk, password=password)
    xml = xml.replace("<graphics type='spice'", "<graphics type='vnc'")
    xml = xml.replace("<model type='qxl'/>", "<model type='vga'/>")
    dom = libvirtd.createXML(xml, 0)
    g = bed.Guest(name, dom.UUIDString(), disk, False, password)
    yield g
    conn, _ = bed.ensure_libvirtd()
    bed.remove(conn, g)


@pytest.fixture()
def runtime_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture()
def display_env(xvfb: str, viewer_tools: None, runtime_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "DISPLAY")}
    env.update(DISPLAY=xvfb, XDG_RUNTIME_DIR=str(runtime_dir))
    return env


@pytest.fixture()
def headless_env(runtime_dir: Path) -> dict[str, str]:
    """The usual SSH session: no display at all."""
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "DISPLAY")}
    env.update(
        XDG_RUNTIME_DIR=str(runtime_dir),
        SSH_CONNECTION="198.51.100.7 51234 192.0.2.10 22",
        USER="ops",
    )
    return env


@pytest.fixture()
def launcher(display_env: dict[str, str]) -> Iterator[Launcher]:
    """A launcher on the private X server; every viewer it started is gone after the test."""
    lau = Launcher(env=display_env)
    yield lau
    pids = [v.pid for v in lau.viewers()]
    lau.shutdown(keep_viewers=False)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"viewer {pid} survived shutdown"
