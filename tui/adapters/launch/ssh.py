"""ssh for remote hypervisors: the ``qemu+ssh://`` endpoint and the tunnel's command line."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from tui.adapters.launch.errors import LaunchError
from tui.adapters.libvirt.graphics import DisplayTarget

SSH_CMD = "ssh"
SSH_PACKAGE = "openssh-client"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


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


def remote_spec(target: DisplayTarget, port: int | None) -> str:
    host = target.host or "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_local_port() -> int:
    """A free TCP port on 127.0.0.1 (ExitOnForwardFailure catches the rare race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
