"""A unix-socket proxy in front of libvirtd that cuts connections on demand.

Real libvirtd behind it, real libvirt client in front; the proxy only decides *when* the bytes
stop. Used by the hardening tests (issue 24) and the soak in ``bench/``:

- ``cut``: once the trigger file exists, the next message a client sends closes both ends of
  that connection (the client sees its call fail mid-flight); the trigger file is removed, so
  the reconnect that follows goes through;
- freeze: stop the proxy's process with SIGSTOP (run it with :func:`start`, a process of its
  own) and the host hangs — connected, never answering — until SIGCONT.

Run: ``python -m testbed.faultproxy LISTEN [--target SOCK] [--trigger FILE]``.
Stdlib only (selectors): it must start fast and never depend on kvmdeck's code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LIBVIRT_SOCK = "/run/libvirt/libvirt-sock"


def serve(listen: str, target: str, trigger: str | None) -> None:
    with_trigger = Path(trigger) if trigger else None
    if os.path.exists(listen):
        os.unlink(listen)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen)
    os.chmod(listen, 0o777)
    server.listen(64)
    server.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ, None)
    peers: dict[socket.socket, socket.socket] = {}
    clients: set[socket.socket] = set()

    def drop(sock: socket.socket) -> None:
        other = peers.pop(sock, None)
        for s in (sock, other):
            if s is None:
                continue
            peers.pop(s, None)
            clients.discard(s)
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(s)
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    print("ready", flush=True)
    while True:
        for key, _mask in sel.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is server:
                try:
                    client, _ = server.accept()
                except OSError:
                    continue
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    upstream.connect(target)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                client.setblocking(True)
                upstream.setblocking(True)
                peers[client], peers[upstream] = upstream, client
                clients.add(client)
                sel.register(client, selectors.EVENT_READ, None)
                sel.register(upstream, selectors.EVENT_READ, None)
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                drop(sock)
                continue
            if sock in clients and with_trigger is not None and with_trigger.exists():
                with contextlib.suppress(OSError):
                    with_trigger.unlink()
                print("cut", flush=True)
                drop(sock)
                continue
            other = peers.get(sock)
            if other is None:
                continue
            try:
                other.sendall(data)
            except OSError:
                drop(sock)


@dataclass
class Proxy:
    """A proxy process: ``uri`` for kvmdeck, ``cut()``, ``freeze()``, ``resume()``, ``stop()``."""

    listen: Path
    trigger: Path
    proc: subprocess.Popen[bytes]
    frozen: bool = field(default=False)

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.listen}"

    def cut(self) -> None:
        """The next client message closes its connection (both ends)."""
        self.trigger.touch()

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for p in (self.listen, self.trigger):
            with contextlib.suppress(OSError):
                p.unlink()


def start(base: Path, target: str = LIBVIRT_SOCK, deadline_s: float = 10.0) -> Proxy:
    """Start a proxy process with its socket and trigger file in ``base`` (a short path:
    unix socket paths are limited to 107 bytes)."""
    listen, trigger = base / "libvirt.sock", base / "cut"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "testbed.faultproxy",
            str(listen),
            "--target",
            target,
            "--trigger",
            str(trigger),
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if listen.exists():
            return Proxy(listen, trigger, proc)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"the fault proxy did not start (exit {proc.poll()})")


@contextlib.contextmanager
def running(target: str = LIBVIRT_SOCK) -> Iterator[Proxy]:
    """A proxy in a fresh short directory under /tmp, stopped and removed at the end."""
    base = Path(tempfile.mkdtemp(prefix="kvd-px-", dir="/tmp"))
    proxy = start(base, target)
    try:
        yield proxy
    finally:
        proxy.stop()
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("listen")
    ap.add_argument("--target", default=LIBVIRT_SOCK)
    ap.add_argument("--trigger")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(args.listen, args.target, args.trigger)
    finally:
        if os.path.exists(args.listen):
            os.unlink(args.listen)


if __name__ == "__main__":
    main()
