"""Truthful host status: each way a connection fails gives its own cause, summary and fix.

Every case is produced for real: closed ports, a listener that accepts and never answers, the
loopback sshd with a wrong known_hosts entry or an unauthorized key, an unprivileged user
against libvirtd's socket, a bad URI scheme, a missing socket. No libvirt error is faked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from testbed import bed
from tests.conftest import need
from tui.adapters.libvirt.connection import (
    ConnectFailed,
    FailureCause,
    LinkFailure,
    no_answer,
    open_connection,
)

REPO = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SilentListener:
    """A loopback TCP listener that accepts connections and never says a word.

    It reproduces a hung host: ``libvirt.open`` blocks on it for minutes. :meth:`close` closes
    the listener and every accepted socket, which ends any ``open`` still waiting (with EOF).
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(2)


@pytest.fixture()
def silent() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


def failure_of_open(uri: str) -> LinkFailure:
    with pytest.raises(ConnectFailed) as err:
        open_connection(uri).close()
    assert uri in str(err.value)
    assert err.value.error  # libvirt's own words are kept
    return err.value.failure


# -- URIs that cannot work: fail fast, never retried -------------------------------------------
@pytest.mark.parametrize(
    "uri",
    ["foo:///bar", "qemu+foo://h/system", "qemu://[bad/system", "qemu:///system?mode=bogus"],
)
def test_invalid_uri_fails_fast_and_is_not_retried(uri: str) -> None:
    t0 = time.monotonic()
    f = failure_of_open(uri)
    assert time.monotonic() - t0 < 5  # no network, no daemon involved
    assert f.cause is FailureCause.INVALID_URI and f.retry is False
    assert uri in f.summary and "qemu:///system" in f.fix


def test_missing_socket_is_daemon_down() -> None:
    uri = "qemu:///system?socket=/nonexistent/sock"
    f = failure_of_open(uri)
    assert f.cause is FailureCause.DAEMON_DOWN and f.retry
    assert "libvirtd is not running" in f.summary and "/nonexistent/sock" in f.summary
    assert "systemctl start libvirtd" in f.fix


# -- closed ports -------------------------------------------------------------------------------
def test_closed_ssh_port_is_refused_not_a_key_problem() -> None:
    need(bed.require_cmd, "ssh", "openssh-client")
    port = closed_port()
    f = failure_of_open(f"qemu+ssh://root@127.0.0.1:{port}/system?no_verify=1")
    assert f.cause is FailureCause.SSH_REFUSED
    assert f"127.0.0.1:{port}" in f.summary and "refused" in f.summary
    assert "sshd" in f.fix and "key" not in f.text().lower()


def test_closed_tcp_port_is_refused_not_a_key_problem() -> None:
    f = failure_of_open("qemu+tcp://127.0.0.1:1/system")
    assert f.cause is FailureCause.DAEMON_DOWN
    assert "127.0.0.1:1 refused" in f.summary
    assert "key" not in f.text().lower()


# -- a peer that accepts and never answers ----------------------------------------------------
def test_silent_port_blocks_the_open_and_the_caller_reports_no_answer(
    silent: SilentListener,
) -> None:
    uri = f"qemu+tcp://127.0.0.1:{silent.port}/system"
    outcome: list[object] = []

    def opener() -> None:
        try:
            outcome.append(open_connection(uri))
        except ConnectFailed as exc:
            outcome.append(exc)

    worker = threading.Thread(target=opener, name="open-silent", daemon=True)
    worker.start()
    worker.join(2.0)
    assert worker.is_alive() and not outcome  # libvirt gives no deadline of its own
    f = no_answer(uri, 10)
    assert f.cause is FailureCause.NO_ANSWER and f.retry
    assert f.text().startswith(f"no answer from {uri} after 10 s")
    silent.close()  # EOF ends the stuck open: the thread does not outlive the test
    worker.join(10)
    assert not worker.is_alive()
    assert isinstance(outcome[0], ConnectFailed)
    assert outcome[0].failure.cause is FailureCause.LOST  # "End of file while reading data"


# -- the loopback sshd: host key and authentication -------------------------------------------
def ssh_with_known_hosts(tmp_path: Path, known_hosts: Path) -> Path:
    """An ssh wrapper (libvirt's ``command=``) that reads only ``known_hosts``.

    OpenSSH takes ~/.ssh from the passwd entry, not $HOME, so a temp HOME cannot isolate it.
    """
    wrapper = tmp_path / "ssh-isolated"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'exec ssh -o UserKnownHostsFile="{known_hosts}" -o GlobalKnownHostsFile=/dev/null "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.sshd
def test_changed_host_key_is_a_host_key_problem(sshd: bed.Sshd, tmp_path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other_host")],
        check=True,
    )
    kind, key = (tmp_path / "other_host.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    ssh = ssh_with_known_hosts(tmp_path, known)
    uri = f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?keyfile={sshd.key}&command={ssh}"
    f = failure_of_open(uri)
    assert f.cause is FailureCause.SSH_HOST_KEY
    assert "has changed" in f.summary and f"127.0.0.1:{sshd.port}" in f.summary
    assert f"ssh-keygen -f {known} -R '[127.0.0.1]:{sshd.port}'" in f.fix
    assert "key or an agent" not in f.text()


@pytest.mark.sshd
def test_unknown_host_key_is_a_host_key_problem(sshd: bed.Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    ssh = ssh_with_known_hosts(tmp_path, known)
    uri = f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?keyfile={sshd.key}&command={ssh}"
    f = failure_of_open(uri)
    assert f.cause is FailureCause.SSH_HOST_KEY
    assert "not known" in f.summary
    assert f"ssh -p {sshd.port} root@127.0.0.1" in f.fix
    assert known.read_text() == ""  # kvmdeck never accepts a key by itself


@pytest.mark.sshd
def test_unauthorized_key_is_an_auth_problem(sshd: bed.Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    uri = f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?keyfile={stranger}&no_verify=1"
    f = failure_of_open(uri)
    assert f.cause is FailureCause.SSH_AUTH
    assert "root@127.0.0.1" in f.summary
    assert "key or an agent" in f.fix and "authorized_keys" in f.fix


# -- an unprivileged user and libvirtd's socket -----------------------------------------------
CHILD = """
import json, sys
sys.path[:0] = sys.argv[1:3]
from tui.adapters.libvirt.connection import ConnectFailed, open_connection
try:
    open_connection(sys.argv[3]).close()
    print(json.dumps({"ok": True}))
except ConnectFailed as exc:
    f = exc.failure
    print(json.dumps({"cause": f.cause.name, "summary": f.summary, "fix": f.fix, "error": exc.error}))
"""


def as_nobody(uri: str) -> dict[str, str]:
    """Open ``uri`` in a child Python running as user ``nobody`` with no groups."""
    if os.geteuid() != 0:
        if bed.in_ci():
            pytest.fail("CI=true: this test switches to user nobody and must run as root")
        pytest.skip("needs root to switch to user nobody")
    setpriv = need(bed.require_cmd, "setpriv", "util-linux")
    site = str(Path(libvirt.__file__).parent)
    drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    # The venv's interpreter may live under /root (mode 700): fall back to Debian's python3,
    # which loads the venv's libvirt module (same CPython 3.11 ABI).
    tried = []
    for python in dict.fromkeys([os.path.realpath(sys.executable), "/usr/bin/python3"]):
        r = subprocess.run(
            [*drop, python, "-c", CHILD, str(REPO), site, uri],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd="/",
        )
        if r.returncode == 0 and r.stdout.strip():
            return dict(json.loads(r.stdout))
        tried.append(f"{python}: rc={r.returncode} {r.stderr.strip()[-300:]}")
    if bed.in_ci():
        pytest.fail("CI=true and no Python that user nobody can run: " + "; ".join(tried))
    pytest.skip("no Python that user nobody can run (apt-get install python3): " + "; ".join(tried))


@pytest.mark.libvirtd
def test_unprivileged_user_on_the_system_socket_is_a_permission_problem(libvirtd) -> None:  # type: ignore[no-untyped-def]
    got = as_nobody("qemu:///system")
    assert got.get("cause") == "SOCKET_PERMISSION", got
    assert "user nobody" in got["summary"]
    assert "/run/libvirt/" in got["summary"]  # the socket, named
    assert "usermod -aG libvirt nobody" in got["fix"]
    assert "not running" not in got["summary"]


@pytest.mark.libvirtd
def test_unprivileged_user_on_a_root_only_socket_is_a_permission_problem(libvirtd) -> None:  # type: ignore[no-untyped-def]
    sock = "/var/run/libvirt/libvirt-admin-sock"  # srwx------ root: Debian's 0770 socket alike
    if not os.path.exists(sock):
        pytest.skip(f"{sock} is missing")
    got = as_nobody(f"qemu:///system?socket={sock}")
    assert got.get("cause") == "SOCKET_PERMISSION", got
    assert "Permission denied" in got["error"]  # libvirt's words
    assert f"socket {sock}" in got["summary"] and "permission denied" in got["summary"]
    assert "usermod -aG libvirt nobody" in got["fix"]


# -- doctor -c with an invalid URI --------------------------------------------------------------
def test_doctor_with_an_invalid_uri_exits_2() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tui", "doctor", "-c", "foo:///bar"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert "foo:///bar is not a URI" in r.stderr and "Traceback" not in r.stderr
