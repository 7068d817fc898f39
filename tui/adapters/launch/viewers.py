"""The :class:`Launcher`: starts remote-viewer (and ssh tunnels) detached and tracks them.

Each viewer runs ``remote-viewer --debug FILE`` with its output in a log file; the launcher
reads that log for "main channel: opened" or a failure (:func:`classify_log_line`), notices
exits, and stops processes by PID (SIGTERM, then SIGKILL).

Cleanup (:meth:`Launcher.shutdown`) is idempotent and safe from any thread: the app calls it
on quit, the signal handlers (``tui.ui.signals``) on SIGHUP/SIGTERM/SIGINT, and an ``atexit``
hook here calls it for every launcher still open, whatever way the interpreter exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from tui.adapters.launch import deathsig
from tui.adapters.launch.errors import LaunchError
from tui.adapters.launch.instructions import display_available
from tui.adapters.launch.procs import _stop, _stop_many, _tail, classify_log_line
from tui.adapters.launch.records import Prepared, Tunnel, _Viewer
from tui.adapters.launch.ssh import SSH_CMD, SSH_PACKAGE, SshEndpoint, free_local_port, remote_spec
from tui.adapters.launch.sshmux import Forward, SshMux
from tui.adapters.launch.usbfilter import viewer_options
from tui.adapters.launch.vvfile import Endpoint, private_dir, write_vv
from tui.adapters.libvirt.connection import is_remote
from tui.adapters.libvirt.graphics import DisplayTarget
from tui.model.viewers import ViewerInfo, ViewerState
from tui.util import shell_command

log = logging.getLogger("tui.adapters.launch")  # the package's logger name, as before the split

VIEWER_CMD = "remote-viewer"
VIEWER_PACKAGE = "virt-viewer"


ViewerCallback = Callable[[ViewerInfo], None]


class Launcher:
    """Starts remote-viewer (and ssh tunnels) detached, and tracks them until they end.

    Thread-safe: :meth:`open_viewer`, :meth:`wait` and :meth:`close` block (call them from a
    thread worker); :meth:`viewers` is cheap enough for the UI thread. A watcher thread reads each viewer's log, notices exits, closes
    the tunnel of a viewer that exited and calls ``on_change`` (from that thread) on each
    change of state.
    """

    POLL_S = 0.1
    SHUTDOWN_GRACE_S = 1.0  # SIGTERM → SIGKILL on quit (quit must return within 2 s)

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        viewer_cmd: str = VIEWER_CMD,
        ssh_cmd: str = SSH_CMD,
        on_change: ViewerCallback | None = None,
        directory: Path | None = None,
        keep_viewers: bool = False,
    ) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.viewer_cmd = viewer_cmd
        self.ssh_cmd = ssh_cmd
        self.on_change = on_change
        self.keep_viewers = keep_viewers  # the default for shutdown() and the atexit hook
        self._directory = directory
        self._own_directory = False
        self._viewers: dict[int, _Viewer] = {}
        self._ended: dict[int, ViewerInfo] = {}  # exited on their own (for wait())
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # every process not yet stopped
        self._next_id = 1
        self._lock = threading.RLock()
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._shut = False
        self._mux = SshMux(lambda: self.directory, self._spawn)  # one ssh per remote host
        _OPEN.add(self)

    # -- where ------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        """The private directory (``kvmdeck-<pid>-XXXXXXXX``, 0700), made on first use."""
        with self._lock:
            if self._shut:
                raise LaunchError("kvmdeck is quitting: no new viewers.")
            if self._directory is None:
                self._directory = private_dir(self.env)
                self._own_directory = True
            return self._directory

    @property
    def is_shut(self) -> bool:
        return self._shut

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
                    "Run: " + shell_command("virt-viewer", "--connect", uri, name=target.guest)
                )
            endpoint, tunnel, tunnel_log = self._start_tunnel(target, SshEndpoint.from_uri(uri))
        try:
            vv = write_vv(target, self.directory, endpoint)
        except BaseException:
            if tunnel is not None:
                self._end_tunnel(tunnel)
            raise
        return Prepared(target, vv, endpoint, tunnel, tunnel_log)

    def _start_tunnel(
        self, target: DisplayTarget, ssh: SshEndpoint, deadline_s: float = 15.0
    ) -> tuple[Endpoint, Forward, Path]:
        """The display's forwards on the host's one ssh connection (:mod:`.sshmux`)."""
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
                forwards.append((port, remote_spec(target, target.port)))
            if tls:
                forwards.append((tls, remote_spec(target, target.tls_port)))
            endpoint = Endpoint("127.0.0.1", port, tls)
        forward, log_path = self._mux.forward(ssh, ssh_path, forwards, deadline_s)
        log.info("ssh forward to %s for %s (master pid %d)", ssh.host, target.guest, forward.pid)
        first_port = forwards[0][0]
        end = time.monotonic() + deadline_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", first_port), timeout=0.5):
                    break
            except OSError:
                pass
            if time.monotonic() > end or forward.poll() is not None:
                self._end_tunnel(forward)
                raise LaunchError(
                    f"The ssh tunnel to {ssh.host} was not up within {deadline_s:.0f} s."
                )
            time.sleep(0.05)
        return endpoint, forward, log_path

    def _end_tunnel(self, tunnel: Tunnel) -> None:
        """A viewer's tunnel ends: its forwards are cancelled (the master stays for the next
        viewer of that host); an ssh process of its own is stopped."""
        if isinstance(tunnel, Forward):
            tunnel.cancel()
        else:
            self._stop_child(tunnel)

    def _spawn(self, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` detached and register it, unless the launcher is shutting down.

        The check and the registration happen under the lock, so :meth:`shutdown` either
        refuses the start or sees (and stops) the new process: nothing is orphaned.
        """
        with self._lock:
            if self._shut:
                raise LaunchError("kvmdeck is quitting: no new viewers.")
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            out: IO[bytes] = os.fdopen(fd, "wb")
            try:
                proc = deathsig.popen(  # ends with kvmdeck, even after kill -9
                    argv,
                    die_with_us=not self.keep_viewers,
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
            self._children[proc.pid] = proc
            return proc

    def _stop_child(self, proc: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
        _stop(proc, grace_s)
        with self._lock:
            self._children.pop(proc.pid, None)

    def spawn(self, prepared: Prepared) -> ViewerInfo:
        """Start ``remote-viewer --debug FILE`` detached (no terminal, its own session)."""
        with self._lock:
            vid = self._next_id
            self._next_id += 1
        log_path = self.directory / f"viewer-{vid}-{secrets.token_hex(3)}.log"
        argv = [self._which(self.viewer_cmd, VIEWER_PACKAGE), "--debug"]
        if prepared.target.type == "spice" and prepared.target.usb_redirect:
            argv += viewer_options(prepared.target.usb_redirect)  # ids only, no secret
        argv.append(str(prepared.vv_path))
        with self._lock:  # spawn and record as one step: shutdown sees both or neither
            try:
                proc = self._spawn(argv, log_path)
            except BaseException:
                prepared.vv_path.unlink(missing_ok=True)
                if prepared.tunnel is not None:
                    self._end_tunnel(prepared.tunnel)
                raise
            viewer = self._record(vid, prepared, proc, log_path)
        return self._started(viewer)

    def _record(
        self, vid: int, prepared: Prepared, proc: subprocess.Popen[bytes], log_path: Path
    ) -> _Viewer:
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
        self._viewers[vid] = viewer
        return viewer

    def _started(self, viewer: _Viewer) -> ViewerInfo:
        log.info("viewer for %s started (pid %d)", viewer.target.title, viewer.proc.pid)
        with self._lock:
            if self._shut:
                return viewer.info()
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

    def ssh_command(self, uri: str | None) -> str | None:
        """:meth:`SshMux.ssh_command`: libvirt's ssh (the serial console's) on the master."""
        return self._mux.ssh_command(uri, lambda: self._which(self.ssh_cmd, SSH_PACKAGE))

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
            self._children.pop(v.proc.pid, None)
            if v.tunnel is not None:
                self._end_tunnel(v.tunnel)
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
        self._stop_child(v.proc)
        if v.tunnel is not None:
            self._end_tunnel(v.tunnel)
        v.vv_path.unlink(missing_ok=True)
        v.log_path.unlink(missing_ok=True)
        if v.tunnel_log is not None and not isinstance(v.tunnel, Forward):
            v.tunnel_log.unlink(missing_ok=True)
        v.state = ViewerState.CLOSED
        log.info("viewer for %s closed (pid %d)", v.target.title, v.proc.pid)
        return v.info()

    def shutdown(self, keep_viewers: bool | None = None, grace_s: float | None = None) -> None:
        """On quit: stop every process kvmdeck started and remove the private directory.

        Idempotent and callable from any thread (the app's unmount, a signal handler, the
        watchdog, ``atexit``): the first call does the work, later calls return at once. All
        processes get SIGTERM together and SIGKILL after ``grace_s`` (default
        :attr:`SHUTDOWN_GRACE_S`). With ``keep_viewers`` (config ``keep_viewers``; default:
        this launcher's setting) the viewers and their tunnels run on in their own sessions;
        a tunnel whose viewer never started is stopped anyway. The private directory (every
        ``.vv`` and log in it) is removed in both cases: a kept viewer has read its ``.vv``
        (``delete-this-file``) and writes on into its unlinked log.
        """
        keep = self.keep_viewers if keep_viewers is None else keep_viewers
        # Never wait long for the lock: this may run in a signal handler on a thread that is
        # stuck, or on the watchdog while another thread holds it. Work on a snapshot then.
        locked = self._lock.acquire(timeout=2.0)
        try:
            if self._shut:
                return
            self._shut = True
            self._stopping.set()
            viewers = list(self._viewers.values())
            kept = {v.proc.pid for v in viewers} | {v.tunnel.pid for v in viewers if v.tunnel}
            procs = [p for pid, p in self._children.items() if not (keep and pid in kept)]
            self._children.clear()
            if not keep:
                self._viewers.clear()
            directory = self._directory if self._own_directory else None
        finally:
            if locked:
                self._lock.release()
        if procs:
            _stop_many(procs, self.SHUTDOWN_GRACE_S if grace_s is None else grace_s)
            log.info("stopped %d process(es) on quit: %s", len(procs), [p.pid for p in procs])
        for v in viewers:
            v.vv_path.unlink(missing_ok=True)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        self._mux.cleanup()
        _OPEN.discard(self)


_OPEN: weakref.WeakSet[Launcher] = weakref.WeakSet()


@atexit.register
def _shutdown_open_launchers() -> None:
    """Last resort: whatever way Python exits, no viewer, tunnel, ``.vv`` or directory is left
    (kept viewers excepted). A no-op for launchers already shut down."""
    for launcher in list(_OPEN):
        try:
            launcher.shutdown()
        except Exception:  # atexit: never raise
            log.exception("launcher cleanup at exit failed")
