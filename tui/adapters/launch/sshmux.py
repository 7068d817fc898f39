"""One ssh connection per remote host for the viewers' tunnels (issue 23): a ControlMaster
in the launcher's private directory, and each viewer's forward added to it with
``ssh -O forward`` (and removed with ``ssh -O cancel`` when the viewer ends).

Three viewers on one host are one ssh process and one TCP connection to the host's sshd,
not three of each (virt-manager#989: 4-8 per console). The serial console rides the same master:
``virsh console`` gets a URI whose ``command=`` is :meth:`SshMux.wrapper`, a script in the
private directory that runs ``ssh -o ControlPath=<the master's socket> -o ControlMaster=no``,
so libvirt's own ssh becomes a session on that connection. The master is one of the launcher's
children, so every exit path that stops them (quit, SIGHUP, SIGTERM, the atexit hook) stops
it too; :meth:`SshMux.close` asks it to exit first (``ssh -O exit``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tui.adapters.launch.errors import LaunchError
from tui.adapters.launch.sockdir import SocketDir, make_socket_dir, sweep_socket_dirs
from tui.adapters.launch.ssh import SshEndpoint

log = logging.getLogger("tui.adapters.launch")

Spawn = Callable[[list[str], Path], "subprocess.Popen[bytes]"]
CONTROL_TIMEOUT_S = 10.0
SUN_PATH_MAX = 108


@dataclass
class _Master:
    proc: subprocess.Popen[bytes]
    control: Path
    log_path: Path
    ssh: SshEndpoint
    ssh_path: str


@dataclass
class Forward:
    """A viewer's forwards on a host's master: stands where a tunnel process stood (``pid``
    and ``poll()`` are the master's; ending it cancels the forwards, not the master)."""

    master: _Master
    specs: list[str]

    @property
    def pid(self) -> int:
        return self.master.proc.pid

    def poll(self) -> int | None:
        return self.master.proc.poll()

    def cancel(self) -> None:
        argv = _control(self.master, "cancel")
        for spec in self.specs:
            argv += ["-L", spec]
        _run([*argv, self.master.ssh.host], "cancel")


def _control(m: _Master, command: str) -> list[str]:
    return [m.ssh_path, "-O", command, "-o", f"ControlPath={m.control}", *m.ssh.options()]


def _run(argv: list[str], what: str, timeout_s: float = CONTROL_TIMEOUT_S) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("ssh -O %s: %s", what, exc)
        return -1, str(exc)
    return proc.returncode, (proc.stderr or proc.stdout).strip()


class SshMux:
    """The masters of one launcher, one per (user, host, port, key)."""

    def __init__(self, directory: Callable[[], Path], spawn: Spawn) -> None:
        self._directory = directory
        self._spawn = spawn
        self._masters: dict[tuple[object, ...], _Master] = {}
        self._lock = threading.Lock()
        self._short: SocketDir | None = None

    def masters(self) -> list[subprocess.Popen[bytes]]:
        with self._lock:
            return [m.proc for m in self._masters.values()]

    def forward(
        self, ssh: SshEndpoint, ssh_path: str, forwards: list[tuple[int, str]], deadline_s: float
    ) -> tuple[Forward, Path]:
        """Add ``forwards`` (local port, remote spec) to the host's master, starting it first
        when there is none. Returns the forward and the master's log."""
        with self._lock:  # one master per host, even when two viewers start at once
            master = self._master(ssh, ssh_path, deadline_s)
        specs = [f"127.0.0.1:{local}:{remote}" for local, remote in forwards]
        argv = _control(master, "forward")
        for spec in specs:
            argv += ["-L", spec]
        code, out = _run([*argv, ssh.host], "forward")
        if code != 0:
            raise LaunchError(f"The ssh tunnel to {ssh.host} failed: {out or f'exit {code}'}.")
        return Forward(master, specs), master.log_path

    def ssh_command(
        self, uri: str | None, ssh_path: Callable[[], str], deadline_s: float = 15.0
    ) -> str | None:
        """The ssh command (``command=``) for a libvirt connection of kvmdeck's own to a
        ``qemu+ssh://`` host, the serial console's: :meth:`wrapper`. None for another URI,
        one that names its own ``command=``, or when the master cannot start: then libvirt's
        ssh connects on its own, and the log says why."""
        parts = urlsplit(uri or "")
        if not parts.scheme.endswith("+ssh") or not parts.hostname:
            return None
        if "command" in dict(parse_qsl(parts.query, keep_blank_values=True)):
            return None  # the user's own ssh command wins
        try:
            path = self.wrapper(SshEndpoint.from_uri(uri or ""), ssh_path(), deadline_s)
        except (LaunchError, OSError) as exc:
            log.warning(
                "ssh to %s: no shared connection (%s); libvirt's ssh connects on its own",
                parts.hostname,
                exc,
            )
            return None
        log.info("ssh to %s: libvirt's ssh rides the host's master (%s)", parts.hostname, path)
        return str(path)

    def wrapper(self, ssh: SshEndpoint, ssh_path: str, deadline_s: float) -> Path:
        """An ssh command for libvirt (a ``qemu+ssh://`` URI's ``command=``) that rides the
        host's master, started first when there is none (the caller waits for it).

        ``ControlMaster=no``, not ``auto``: the master is always the launcher's own child,
        so it is stopped on every exit path; with ``auto`` the console's ssh would become a
        master of its own that the launcher does not know (and with ControlPersist one that
        outlives kvmdeck). Should the master be gone by the time libvirt runs it, ssh finds
        no socket and connects on its own, as before. The script is 0700 in the private
        directory (removed with it) and names only ssh and the socket: nothing secret."""
        with self._lock:
            master = self._master(ssh, ssh_path, deadline_s)
        path = self._directory() / f"ssh-{master.control.name.removeprefix('cm-')}"
        script = (
            f"#!/bin/sh\nexec {shlex.quote(master.ssh_path)} -o "
            f'{shlex.quote(f"ControlPath={master.control}")} -o ControlMaster=no "$@"\n'
        )
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o700)
        with os.fdopen(fd, "w") as f:
            f.write(script)
        tmp.replace(path)
        return path

    def _master(self, ssh: SshEndpoint, ssh_path: str, deadline_s: float) -> _Master:
        key = (ssh.host, ssh.user, ssh.port, ssh.keyfile, ssh.verify)
        found = self._masters.get(key)
        if found is not None and found.proc.poll() is None:
            return found
        name = hashlib.sha256(repr(key).encode()).hexdigest()[:8]
        directory = self._directory()
        log_path = directory / f"ssh-master-{name}.log"
        control = self._socket_dir(directory) / f"cm-{name}"
        argv = [ssh_path, "-N", "-o", "ControlMaster=yes", "-o", f"ControlPath={control}"]
        argv += ["-o", "ControlPersist=no", *ssh.options(), ssh.host]
        proc = self._spawn(argv, log_path)
        log.info("ssh master to %s started (pid %d)", ssh.host, proc.pid)
        end = time.monotonic() + deadline_s
        while not control.exists():
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise LaunchError(
                    f"The ssh tunnel to {ssh.host} failed (exit {proc.returncode}): "
                    f"{tail[0] if tail else 'no output'}. kvmdeck runs ssh with BatchMode=yes: "
                    "it needs a key (ssh-agent, or ?keyfile= in the URI)."
                )
            if time.monotonic() > end:
                proc.kill()
                raise LaunchError(
                    f"The ssh tunnel to {ssh.host} was not up within {deadline_s:.0f} s."
                )
            time.sleep(0.05)
        master = _Master(proc, control, log_path, ssh, ssh_path)
        self._masters[key] = master
        return master

    def _socket_dir(self, directory: Path) -> Path:
        """The private directory, unless its path is too long for a UNIX socket (ssh adds
        17 characters while it binds; the limit is 108): then a short 0700 one in /tmp
        (:mod:`.sockdir`: locked for this process's lifetime), removed by :meth:`cleanup`.
        Before the first one is made, those a kvmdeck killed with ``kill -9`` left are swept."""
        if len(str(directory)) + len("/cm-12345678") + 17 < SUN_PATH_MAX:
            return directory
        if self._short is None:
            try:
                swept = sweep_socket_dirs()
                if swept.removed:
                    log.info("swept %d stale ssh socket dir(s): %s", len(swept.removed),
                             [str(p) for p in swept.removed])  # fmt: skip
            except OSError as exc:  # never stop a tunnel for this
                log.warning("sweeping stale ssh socket dirs failed: %s", exc)
            try:
                self._short = make_socket_dir()
            except OSError as exc:
                raise LaunchError(f"No directory for the ssh control socket: {exc}.") from exc
        return self._short.path

    def cleanup(self) -> None:
        """After the masters stopped: remove the short socket directory, if one was made."""
        short, self._short = self._short, None
        if short is not None:
            short.remove()

    def close(self) -> None:
        """Ask every master to exit (``ssh -O exit``); the launcher stops what is left."""
        with self._lock:
            masters, self._masters = list(self._masters.values()), {}
        for m in masters:
            if m.proc.poll() is None:
                _run([*_control(m, "exit"), m.ssh.host], "exit", timeout_s=2.0)
