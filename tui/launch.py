"""Starting and tracking the external programs kvmdeck runs: remote-viewer and ssh tunnels.

This is the only module that starts other programs (an import-linter contract keeps textual out).

How a console opens (:func:`open_console`, called from a thread worker):

1. ``tui.hypervisor.graphics`` reads the live XML: protocol, address, port, password.
2. No ``$DISPLAY``/``$WAYLAND_DISPLAY`` (the usual SSH session): nothing starts. The caller gets
   :class:`ClientInstructions`, the commands the operator runs on their workstation.
3. Otherwise a ``.vv`` file (mode 0600, ``delete-this-file=1``) is written to a private
   directory and ``remote-viewer --debug FILE`` starts detached, its output going to a log file
   the :class:`Launcher` watches for "main channel: opened" or a failure. The password lives
   only in that file: never on a command line, never in a log.

Remote hypervisors (``qemu+ssh://``): the display listens on the remote host's loopback, so
the launcher starts an ``ssh -N -L`` tunnel (see :meth:`SshEndpoint.tunnel_argv` for why a
tunnel rather than ``virt-viewer --connect``) and points the ``.vv`` at the local end.
"""

from __future__ import annotations

import contextlib
import enum
import getpass
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import libvirt

from tui.hypervisor.connection import is_remote
from tui.hypervisor.graphics import DisplayError, DisplayTarget, resolve_display

log = logging.getLogger(__name__)

__all__ = [
    "ClientInstructions",
    "DisplayError",
    "LaunchError",
    "Launcher",
    "SshEndpoint",
    "ViewerInfo",
    "ViewerOpened",
    "ViewerState",
    "client_instructions",
    "display_available",
    "open_console",
    "write_vv",
]

VIEWER_CMD = "remote-viewer"
VIEWER_PACKAGE = "virt-viewer"
SSH_CMD = "ssh"
SSH_PACKAGE = "openssh-client"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class LaunchError(Exception):
    """A program could not be started. The message says which, why and the fix."""


# -- files ---------------------------------------------------------------------------------------
def private_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_RUNTIME_DIR/kvmdeck`` (0700), or else a fresh ``mkdtemp`` directory (0700)."""
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        path = Path(runtime) / "kvmdeck"
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        st = path.lstat()
        if path.is_dir() and not path.is_symlink() and st.st_uid == os.getuid():
            if st.st_mode & 0o077:
                os.chmod(path, 0o700)
            return path
    return Path(tempfile.mkdtemp(prefix="kvmdeck-"))


def _keyfile_escape(value: str) -> str:
    """GKeyFile value escaping (the .vv format is a GLib key file)."""
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return "\\s" + out[1:] if out.startswith(" ") else out


@dataclass(frozen=True)
class Endpoint:
    """Where the viewer connects, from *this* machine (a tunnel's local end for remote hosts)."""

    host: str | None
    port: int | None
    tls_port: int | None = None
    socket: str | None = None

    @classmethod
    def of(cls, target: DisplayTarget) -> Endpoint:
        return cls(target.host, target.port, target.tls_port, target.socket)


def vv_text(target: DisplayTarget, endpoint: Endpoint | None = None) -> str:
    """The ``[virt-viewer]`` file for ``target`` (holds the password: write it 0600)."""
    ep = endpoint or Endpoint.of(target)
    lines = ["[virt-viewer]", f"type={target.type}"]
    if ep.socket:
        lines.append(f"unix-path={_keyfile_escape(ep.socket)}")
    else:
        lines.append(f"host={_keyfile_escape(ep.host or '127.0.0.1')}")
        if ep.port is not None:
            lines.append(f"port={ep.port}")
        if ep.tls_port is not None:
            lines.append(f"tls-port={ep.tls_port}")
    if target.password:
        lines.append(f"password={_keyfile_escape(target.password)}")
    lines += [f"title={_keyfile_escape(target.title)}", "delete-this-file=1", ""]
    return "\n".join(lines)


def write_vv(target: DisplayTarget, directory: Path, endpoint: Endpoint | None = None) -> Path:
    """Create a new ``.vv`` file, mode 0600 from the start (``O_CREAT|O_EXCL``), and return it."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", target.guest)[:64] or "guest"
    path = Path(directory) / f"{stem}-{secrets.token_hex(4)}.vv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(vv_text(target, endpoint))
    return path


# -- ssh ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SshEndpoint:
    """The ssh side of a ``qemu+ssh://user@host:port/system?keyfile=…`` URI."""

    host: str
    user: str | None = None
    port: int | None = None
    keyfile: str | None = None
    verify: bool = True

    @classmethod
    def from_uri(cls, uri: str) -> SshEndpoint:
        parts = urlsplit(uri)
        if "ssh" not in parts.scheme or not parts.hostname:
            raise LaunchError(f"{uri} is not an ssh URI (qemu+ssh://user@host/system).")
        query = dict(parse_qsl(parts.query))
        return cls(
            host=parts.hostname,
            user=parts.username,
            port=parts.port,
            keyfile=query.get("keyfile"),
            verify=query.get("no_verify", "0") in ("", "0"),
        )

    def options(self) -> list[str]:
        """Options shared by every ssh kvmdeck starts: never prompt, fail fast."""
        argv = ["-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes"]
        argv += ["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]
        if not self.verify:
            argv += ["-o", "StrictHostKeyChecking=no"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.keyfile:
            argv += ["-i", self.keyfile]
        if self.user:
            argv += ["-l", self.user]
        return argv

    def tunnel_argv(self, forwards: list[tuple[int, str]], ssh: str = SSH_CMD) -> list[str]:
        """``ssh -N -L 127.0.0.1:LOCAL:REMOTE …`` for each (local port, remote spec).

        A remote spec is ``address:port`` or a UNIX socket path on the remote host.

        Why a tunnel and not ``virt-viewer --connect URI NAME``: kvmdeck has already read the
        display (and its password) over its own libvirt connection, so the same ``.vv`` path
        serves local and remote guests, the same log tells "connected" from "failed", and the
        password is never asked for again. ``virt-viewer --connect`` would open a second
        libvirt connection over ssh with its own prompts (host keys, keys, passwords) that a
        TUI cannot answer, and would re-read the XML itself. ``BatchMode=yes`` makes a missing
        key fail at once instead of prompting; ``ExitOnForwardFailure=yes`` makes a busy local
        port fail at once instead of leaving a useless ssh running.
        """
        argv = [ssh, "-N", *self.options()]
        for local, remote in forwards:
            argv += ["-L", f"127.0.0.1:{local}:{remote}"]
        argv.append(self.host)
        return argv


def _remote_spec(target: DisplayTarget, port: int | None) -> str:
    host = target.host or "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_local_port() -> int:
    """A free TCP port on 127.0.0.1 (ExitOnForwardFailure catches the rare race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- instructions for a session without a display ------------------------------------------
def display_available(env: Mapping[str, str]) -> bool:
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@dataclass(frozen=True)
class ClientInstructions:
    """What the operator runs on their own workstation (never holds the password)."""

    guest: str
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (heading, command lines)
    notes: tuple[str, ...] = ()

    @property
    def commands(self) -> list[str]:
        return [line for _, lines in self.options for line in lines]

    @property
    def text(self) -> str:
        """Ready to paste into a shell: headings as comments, then the commands."""
        out: list[str] = []
        for heading, lines in self.options:
            out.append(f"# {heading}")
            out.extend(lines)
        return "\n".join(out)


def _client_uri(uri: str) -> str:
    """The URI as the workstation should use it: drop this machine's key file and flags."""
    parts = urlsplit(uri)
    drop = {"keyfile", "no_tty", "no_verify", "known_hosts"}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in drop]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/~")))


def _viewer_url(target: DisplayTarget, port: int | None, tls_port: int | None) -> str:
    if target.type == "vnc":
        return f"vnc://127.0.0.1:{port}"
    if port is None:
        return f"spice://127.0.0.1?tls-port={tls_port}"
    if tls_port is not None:
        return f"spice://127.0.0.1:{port}?tls-port={tls_port}"
    return f"spice://127.0.0.1:{port}"


def client_instructions(
    target: DisplayTarget, uri: str | None, env: Mapping[str, str]
) -> ClientInstructions:
    """Commands for the operator's workstation, for a TUI running where no display is.

    For a local URI the server is this machine as the operator reached it: the third field of
    ``$SSH_CONNECTION`` (its fourth is the ssh port), else the hypervisor's host name.
    """
    parts = urlsplit(uri or "qemu:///system")
    if uri and is_remote(uri) and "ssh" in parts.scheme:
        ssh = SshEndpoint.from_uri(uri)
        user, server, ssh_port = ssh.user, ssh.host, ssh.port
        connect_uri = _client_uri(uri)
    else:
        fields = env.get("SSH_CONNECTION", "").split()
        server = fields[2] if len(fields) >= 3 else target.hostname
        ssh_port = int(fields[3]) if len(fields) >= 4 and fields[3] != "22" else None
        user = env.get("USER") or env.get("LOGNAME") or getpass.getuser()
        driver = (parts.scheme.split("+")[0] or "qemu") if parts.scheme else "qemu"
        netloc = f"[{server}]" if ":" in server else server
        netloc = f"{user}@{netloc}" + (f":{ssh_port}" if ssh_port else "")
        connect_uri = f"{driver}+ssh://{netloc}{parts.path or '/system'}"

    direct = (
        "With virt-viewer (it asks for passwords itself):",
        (shlex.join(["virt-viewer", "--connect", connect_uri, target.guest]),),
    )

    forwards: list[str] = []
    port: int | None
    tls: int | None
    local_port = target.port or target.tls_port or 5900
    if target.socket and not target.port and not target.tls_port:
        forwards += ["-L", f"{local_port}:{target.socket}"]
        port, tls = local_port, None
    else:
        if target.port:
            forwards += ["-L", f"{target.port}:{_remote_spec(target, target.port)}"]
        if target.tls_port:
            forwards += ["-L", f"{target.tls_port}:{_remote_spec(target, target.tls_port)}"]
        port, tls = target.port, target.tls_port
    ssh_line = ["ssh", "-N", *forwards]
    if ssh_port:
        ssh_line += ["-p", str(ssh_port)]
    ssh_line.append(f"{user}@{server}" if user else server)
    tunnel = (
        "Or with an ssh tunnel (leave it running), then remote-viewer:",
        (
            shlex.join(ssh_line),
            shlex.join(["remote-viewer", _viewer_url(target, port, tls)]),
        ),
    )

    notes = ["No graphical display here ($DISPLAY and $WAYLAND_DISPLAY are unset)."]
    if target.has_password:
        notes.append(
            "The console has a password; the viewer asks for it. It is not shown here: read it "
            f"with 'virsh dumpxml --security-info {target.guest}'."
        )
    elif not target.password_known:
        notes.append("Read-only connection: if the console has a password, the viewer asks.")
    if target.tls_port:
        notes.append("The display uses TLS: the viewer needs the host's SPICE CA certificate.")
    return ClientInstructions(target.guest, (direct, tunnel), tuple(notes))


# -- viewers ---------------------------------------------------------------------------------
class ViewerState(enum.Enum):
    STARTING = "starting"
    CONNECTED = "connected"
    FAILED = "failed"  # remote-viewer still runs (it waits for the user): close it
    EXITED = "exited"
    CLOSED = "closed"


_LOG_LINE = re.compile(
    r"^\([^)]*\):\s+[\w.-]+(?:\s+\*\*)?:\s+(?:\d\d:\d\d:\d\d\.\d+:\s+)?(?P<msg>.*)$"
)
# Measured with remote-viewer 11 --debug: SPICE says "main channel: opened"; VNC has no such
# line, its first "desktop resize" follows the handshake (and authentication).
_CONNECTED = ("main channel: opened", "desktop resize", "notebook show display")
_FAILED: tuple[tuple[str, str | None], ...] = (
    ("main channel: auth failure", "authentication failed (wrong password?)"),
    ("main channel: failed to connect", None),
    ("main channel: closed", "disconnected"),
    ("got vnc error", None),
    ("Unable to authenticate", None),
    ("Unable to connect", None),
    ("Failed to initiate connection", None),
    ("Can't connect to channel", None),
    ("Connecting to UNIX socket failed", None),
    ("Cannot determine the connection type", None),
    ("display has disconnected", "disconnected"),
)
_NOISE_PREFIXES = ("main channel: ", "vnc-session: got vnc error ")


def classify_log_line(line: str) -> tuple[ViewerState, str] | None:
    """A remote-viewer --debug line that changes the state: (state, detail), else None."""
    m = _LOG_LINE.match(line.strip())
    msg = m.group("msg") if m else line.strip()
    for needle in _CONNECTED:
        if needle in msg:
            return ViewerState.CONNECTED, ""
    for needle, fixed in _FAILED:
        if needle in msg:
            if fixed is not None:
                return ViewerState.FAILED, fixed
            for prefix in _NOISE_PREFIXES:
                msg = msg.split(prefix, 1)[-1]
            return ViewerState.FAILED, msg
    return None


@dataclass(frozen=True)
class ViewerInfo:
    """A snapshot of one viewer, safe to hand to the UI."""

    id: int
    guest: str
    title: str
    pid: int
    started: float  # wall clock (time.time())
    state: ViewerState
    detail: str = ""
    tunnel_pid: int | None = None
    connect_s: float | None = None  # spawn → "main channel: opened"

    @property
    def alive(self) -> bool:
        return self.state in (ViewerState.STARTING, ViewerState.CONNECTED, ViewerState.FAILED)


@dataclass
class Prepared:
    """A written ``.vv`` (and a started tunnel, if remote), not yet handed to remote-viewer."""

    target: DisplayTarget
    vv_path: Path
    endpoint: Endpoint
    tunnel: subprocess.Popen[bytes] | None = None
    tunnel_log: Path | None = None


@dataclass
class _Viewer:
    id: int
    target: DisplayTarget
    proc: subprocess.Popen[bytes]
    log_path: Path
    vv_path: Path
    started: float
    spawned: float  # monotonic
    tunnel: subprocess.Popen[bytes] | None = None
    tunnel_log: Path | None = None
    state: ViewerState = ViewerState.STARTING
    detail: str = ""
    connect_s: float | None = None
    offset: int = 0
    partial: str = field(default="", repr=False)

    def info(self) -> ViewerInfo:
        return ViewerInfo(
            id=self.id,
            guest=self.target.guest,
            title=self.target.title,
            pid=self.proc.pid,
            started=self.started,
            state=self.state,
            detail=self.detail,
            tunnel_pid=self.tunnel.pid if self.tunnel else None,
            connect_s=self.connect_s,
        )


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    """SIGTERM this one process (by PID), SIGKILL after ``grace_s``, and reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _tail(path: Path | None, limit: int = 300) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " ".join(text.splitlines()[-3:])[-limit:]


ViewerCallback = Callable[[ViewerInfo], None]


class Launcher:
    """Starts remote-viewer (and ssh tunnels) detached, and tracks them until they end.

    Thread-safe: :meth:`open_viewer`, :meth:`wait` and :meth:`close` block (call them from a
    thread worker); :meth:`viewers` is cheap enough for the UI thread. A watcher thread reads each viewer's log, notices exits, closes
    the tunnel of a viewer that exited and calls ``on_change`` (from that thread) on each
    change of state.
    """

    POLL_S = 0.1

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        viewer_cmd: str = VIEWER_CMD,
        ssh_cmd: str = SSH_CMD,
        on_change: ViewerCallback | None = None,
        directory: Path | None = None,
    ) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.viewer_cmd = viewer_cmd
        self.ssh_cmd = ssh_cmd
        self.on_change = on_change
        self._directory = directory
        self._own_directory = False
        self._viewers: dict[int, _Viewer] = {}
        self._ended: dict[int, ViewerInfo] = {}  # exited on their own (for wait())
        self._next_id = 1
        self._lock = threading.RLock()
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- where ------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        with self._lock:
            if self._directory is None:
                self._directory = private_dir(self.env)
                self._own_directory = self._directory.name.startswith("kvmdeck-")
            return self._directory

    def has_display(self) -> bool:
        return display_available(self.env)

    def _which(self, cmd: str, package: str) -> str:
        found = shutil.which(cmd, path=self.env.get("PATH", os.defpath))
        if not found:
            raise LaunchError(
                f"'{cmd}' was not found on PATH: install it with 'apt install {package}'."
            )
        return found

    # -- start --------------------------------------------------------------------------------
    def prepare(self, target: DisplayTarget, uri: str | None = None) -> Prepared:
        """Check the programs, start the tunnel if remote, write the ``.vv`` (0600)."""
        self._which(self.viewer_cmd, VIEWER_PACKAGE)
        endpoint = Endpoint.of(target)
        tunnel = tunnel_log = None
        if uri and is_remote(uri):
            if "ssh" not in urlsplit(uri).scheme:
                raise LaunchError(
                    f"{uri} is remote but not over ssh, so kvmdeck cannot tunnel to the display. "
                    f"Run: virt-viewer --connect {uri} {target.guest}"
                )
            endpoint, tunnel, tunnel_log = self._start_tunnel(target, SshEndpoint.from_uri(uri))
        try:
            vv = write_vv(target, self.directory, endpoint)
        except BaseException:
            if tunnel is not None:
                _stop(tunnel)
            raise
        return Prepared(target, vv, endpoint, tunnel, tunnel_log)

    def _start_tunnel(
        self, target: DisplayTarget, ssh: SshEndpoint, deadline_s: float = 15.0
    ) -> tuple[Endpoint, subprocess.Popen[bytes], Path]:
        ssh_path = self._which(self.ssh_cmd, SSH_PACKAGE)
        forwards: list[tuple[int, str]] = []
        if target.host is None and target.socket:
            local = free_local_port()
            forwards.append((local, target.socket))
            endpoint = Endpoint("127.0.0.1", local)
        else:
            port = free_local_port() if target.port else None
            tls = free_local_port() if target.tls_port else None
            if port:
                forwards.append((port, _remote_spec(target, target.port)))
            if tls:
                forwards.append((tls, _remote_spec(target, target.tls_port)))
            endpoint = Endpoint("127.0.0.1", port, tls)
        argv = ssh.tunnel_argv(forwards, ssh=ssh_path)
        log_path = self.directory / f"ssh-{secrets.token_hex(4)}.log"
        proc = self._spawn(argv, log_path)
        log.info("ssh tunnel to %s for %s started (pid %d)", ssh.host, target.guest, proc.pid)
        first_port = forwards[0][0]
        end = time.monotonic() + deadline_s
        while True:
            if proc.poll() is not None:
                raise LaunchError(
                    f"The ssh tunnel to {ssh.host} failed (exit {proc.returncode}): "
                    f"{_tail(log_path) or 'no output'}. kvmdeck runs ssh with BatchMode=yes: "
                    "it needs a key (ssh-agent, or ?keyfile= in the URI)."
                )
            try:
                with socket.create_connection(("127.0.0.1", first_port), timeout=0.5):
                    break
            except OSError:
                pass
            if time.monotonic() > end:
                _stop(proc)
                raise LaunchError(
                    f"The ssh tunnel to {ssh.host} was not up within {deadline_s:.0f} s."
                )
            time.sleep(0.05)
        return endpoint, proc, log_path

    def _spawn(self, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        out: IO[bytes] = os.fdopen(fd, "wb")
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=self.env,
            )
        except OSError as exc:
            raise LaunchError(f"Cannot start {argv[0]}: {exc.strerror or exc}.") from exc
        finally:
            out.close()

    def spawn(self, prepared: Prepared) -> ViewerInfo:
        """Start ``remote-viewer --debug FILE`` detached (no terminal, its own session)."""
        with self._lock:
            vid = self._next_id
            self._next_id += 1
        log_path = self.directory / f"viewer-{vid}-{secrets.token_hex(3)}.log"
        argv = [self._which(self.viewer_cmd, VIEWER_PACKAGE), "--debug", str(prepared.vv_path)]
        try:
            proc = self._spawn(argv, log_path)
        except BaseException:
            prepared.vv_path.unlink(missing_ok=True)
            if prepared.tunnel is not None:
                _stop(prepared.tunnel)
            raise
        viewer = _Viewer(
            id=vid,
            target=prepared.target,
            proc=proc,
            log_path=log_path,
            vv_path=prepared.vv_path,
            started=time.time(),
            spawned=time.monotonic(),
            tunnel=prepared.tunnel,
            tunnel_log=prepared.tunnel_log,
        )
        log.info("viewer for %s started (pid %d)", prepared.target.title, proc.pid)
        with self._lock:
            self._viewers[vid] = viewer
            if self._watcher is None or not self._watcher.is_alive():
                self._stopping.clear()
                self._watcher = threading.Thread(
                    target=self._watch, name="kvmdeck-viewers", daemon=True
                )
                self._watcher.start()
        return viewer.info()

    def open_viewer(self, target: DisplayTarget, uri: str | None = None) -> ViewerInfo:
        """:meth:`prepare` then :meth:`spawn`. Raises :class:`LaunchError`."""
        return self.spawn(self.prepare(target, uri))

    # -- watch ---------------------------------------------------------------------------------
    def _refresh(self, v: _Viewer) -> bool:
        """Read new log lines and the exit status; True when the state changed."""
        before = v.state, v.detail
        try:
            with open(v.log_path, "rb") as handle:
                handle.seek(v.offset)
                chunk = handle.read()
        except OSError:
            chunk = b""
        if chunk:
            v.offset += len(chunk)
            text = v.partial + chunk.decode("utf-8", errors="replace")
            *lines, v.partial = text.split("\n")
            for line in lines:
                found = classify_log_line(line)
                if found is None:
                    continue
                state, detail = found
                if state is ViewerState.CONNECTED and v.state is not ViewerState.CONNECTED:
                    v.state, v.detail = state, ""
                    if v.connect_s is None:
                        v.connect_s = time.monotonic() - v.spawned
                elif state is ViewerState.FAILED:
                    v.state, v.detail = state, detail
        if v.proc.poll() is not None and v.state is not ViewerState.CLOSED:
            if v.state is not ViewerState.EXITED:
                code = v.proc.returncode
                v.detail = v.detail or (f"exit status {code}" if code else "")
            v.state = ViewerState.EXITED
            v.vv_path.unlink(missing_ok=True)
            if v.tunnel is not None:
                _stop(v.tunnel)
        elif (
            v.tunnel is not None
            and v.tunnel.poll() is not None
            and v.state is not ViewerState.FAILED
        ):
            v.state = ViewerState.FAILED
            v.detail = f"ssh tunnel ended: {_tail(v.tunnel_log) or 'no output'}"
        return (v.state, v.detail) != before

    def poll(self) -> list[ViewerInfo]:
        """Update every viewer now; returns the ones whose state changed."""
        changed: list[ViewerInfo] = []
        with self._lock:
            for vid, v in list(self._viewers.items()):
                if self._refresh(v):
                    changed.append(v.info())
                if v.state is ViewerState.EXITED:
                    self._ended[vid] = v.info()
                    del self._viewers[vid]
        return changed

    def _watch(self) -> None:
        while not self._stopping.is_set():
            for info in self.poll():
                log.info(
                    "viewer %s (pid %d): %s %s", info.title, info.pid, info.state.value, info.detail
                )
                if self.on_change is not None:
                    try:
                        self.on_change(info)
                    except Exception:  # the UI's callback must not kill the watcher
                        log.exception("viewer on_change callback failed")
            with self._lock:
                if not self._viewers:
                    self._watcher = None
                    return
            self._stopping.wait(self.POLL_S)

    def wait(self, viewer: ViewerInfo | int, timeout_s: float = 10.0) -> ViewerInfo:
        """Block until the viewer leaves STARTING (connected, failed or exited) or the timeout."""
        vid = viewer if isinstance(viewer, int) else viewer.id
        end = time.monotonic() + timeout_s
        while True:
            with self._lock:
                v = self._viewers.get(vid)
                if v is None:
                    if vid in self._ended:
                        return self._ended[vid]
                    raise LaunchError(f"No viewer #{vid} (it was closed).")
                self._refresh(v)
                info = v.info()
            if info.state is not ViewerState.STARTING or time.monotonic() >= end:
                return info
            time.sleep(0.02)

    # -- list / close ----------------------------------------------------------------------
    def viewers(self) -> list[ViewerInfo]:
        """The viewers still running (starting, connected or failed), oldest first."""
        with self._lock:
            return [v.info() for v in self._viewers.values() if v.state is not ViewerState.EXITED]

    def log_path(self, viewer: ViewerInfo | int) -> Path | None:
        vid = viewer if isinstance(viewer, int) else viewer.id
        with self._lock:
            v = self._viewers.get(vid)
            return v.log_path if v else None

    def close(self, viewer: ViewerInfo | int) -> ViewerInfo | None:
        """Stop one viewer (SIGTERM, then SIGKILL) and its tunnel. Blocks up to a few seconds."""
        vid = viewer if isinstance(viewer, int) else viewer.id
        with self._lock:
            v = self._viewers.pop(vid, None)
        if v is None:
            return None
        _stop(v.proc)
        if v.tunnel is not None:
            _stop(v.tunnel)
        v.vv_path.unlink(missing_ok=True)
        v.log_path.unlink(missing_ok=True)
        if v.tunnel_log is not None:
            v.tunnel_log.unlink(missing_ok=True)
        v.state = ViewerState.CLOSED
        log.info("viewer for %s closed (pid %d)", v.target.title, v.proc.pid)
        return v.info()

    def close_all(self) -> None:
        with self._lock:
            ids = list(self._viewers)
        for vid in ids:
            self.close(vid)

    def shutdown(self, keep_viewers: bool = False) -> None:
        """On quit: close every viewer unless the user keeps them (config ``keep_viewers``).

        Kept viewers (and their tunnels) run on in their own sessions after kvmdeck exits.
        """
        self._stopping.set()
        if keep_viewers:
            return
        self.close_all()
        if self._own_directory and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


# -- the one call the app makes ------------------------------------------------------------------
@dataclass(frozen=True)
class ViewerOpened:
    """A viewer started; ``viewer.state`` says whether it connected within the wait."""

    viewer: ViewerInfo
    elapsed_s: float  # call → connected/failed (or the wait's end)

    @property
    def message(self) -> str:
        v = self.viewer
        if v.state is ViewerState.CONNECTED:
            return f"Console of {v.guest} open (pid {v.pid}, {self.elapsed_s:.1f} s)."
        if v.state is ViewerState.FAILED:
            return f"Console of {v.guest}: {v.detail or 'connection failed'} (pid {v.pid})."
        if v.state is ViewerState.EXITED:
            return f"Console of {v.guest}: remote-viewer exited {v.detail}".rstrip() + "."
        return f"Console of {v.guest}: remote-viewer is starting (pid {v.pid})."


def open_console(
    conn: libvirt.virConnect,
    dom_name: str,
    uri: str | None,
    readonly: bool,
    launcher: Launcher,
    wait_s: float = 10.0,
) -> ViewerOpened | ClientInstructions:
    """Open guest ``dom_name``'s console (blocking: call it from a thread worker).

    With a display: starts remote-viewer and waits up to ``wait_s`` for it to connect or fail.
    Without one: returns the commands to run on the operator's workstation.
    Raises :class:`DisplayError` (guest not running, no graphics, no port yet) or
    :class:`LaunchError` (remote-viewer or ssh missing, tunnel failed).
    """
    start = time.monotonic()
    target = resolve_display(conn, dom_name, readonly)
    if not launcher.has_display():
        return client_instructions(target, uri, launcher.env)
    info = launcher.open_viewer(target, uri)
    info = launcher.wait(info, wait_s)
    return ViewerOpened(info, time.monotonic() - start)
