"""A fleet test bed (issue 23): N hosts of the libvirt test driver, each with its own node XML
(``test:///DIR/hostNN.xml``: its own guests and states), named in a ``[[hosts]]`` config, plus
hosts that are down (nothing listens) and hosts that hang (a loopback listener that accepts and
never answers: ``qemu+tcp://127.0.0.1:PORT/system``).

Shared by ``tests/`` and ``bench/``. Nothing here is a fake: the test driver is libvirt's own,
and a hung host is a real socket that never answers.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

# libvirt's test driver run states: 1 running, 3 paused, 5 shut off
RUNNING, PAUSED, SHUTOFF = 1, 3, 5

DOMAIN = """  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{name}</name>
    <uuid>{uuid}</uuid>
    <memory unit='MiB'>{mem}</memory>
    <currentMemory unit='MiB'>{mem}</currentMemory>
    <vcpu>{vcpus}</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <test:runstate>{state}</test:runstate>
  </domain>
"""


def guest_name(host: int, guest: int) -> str:
    return f"h{host:02d}-vm{guest:02d}"


def guest_state(host: int, guest: int) -> int:
    """Every host its own mix: mostly running, some shut off, a few paused."""
    k = (host * 7 + guest * 3) % 10
    return SHUTOFF if k in (0, 5) else PAUSED if k == 7 else RUNNING


def node_xml(host: int, guests: int) -> str:
    """A test-driver node: its CPU, memory and ``guests`` domains of its own."""
    head = (
        "<?xml version='1.0'?>\n<node>\n"
        f"  <cpu><nodes>1</nodes><sockets>1</sockets><cores>{4 + host % 4 * 4}</cores>"
        "<threads>2</threads><mhz>2400</mhz><model>Fleet CPU</model></cpu>\n"
        f"  <memory>{(16 + host % 4 * 16) * 1024 * 1024}</memory>\n"
    )
    doms = [
        DOMAIN.format(
            name=guest_name(host, g),
            uuid=f"6b1c0a3e-0d7e-4c1a-{host:04d}-{g:012d}",
            mem=512 * (1 + (host + g) % 8),
            vcpus=1 + (host + g) % 4,
            state=guest_state(host, g),
        )
        for g in range(guests)
    ]
    return head + "".join(doms) + "</node>\n"


def host_name(host: int) -> str:
    return f"kvm{host:02d}"


class HungListener:
    """A loopback TCP listener that accepts and never answers: a hung host for libvirt
    (``qemu+tcp://127.0.0.1:PORT/system``). ``close()`` ends it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="hung-listener", daemon=True)
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"qemu+tcp://127.0.0.1:{self.port}/system"

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never read, never answered

    def close(self) -> None:
        self._stop = True
        for c in self.accepted:
            c.close()
        self.sock.close()


def closed_port() -> int:
    """A loopback port where nothing listens (a down host: connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


@dataclass
class Fleet:
    """The bed's files and hosts. ``uris`` in config order; ``config`` names them all."""

    directory: Path
    uris: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    hung: list[HungListener] = field(default_factory=list)
    config: Path | None = None

    def close(self) -> None:
        for h in self.hung:
            h.close()


def make_fleet(
    directory: Path,
    hosts: int = 50,
    guests: int = 20,
    down: int = 0,
    hung: int = 0,
    extra: tuple[tuple[str, str], ...] = (),
) -> Fleet:
    """Write ``hosts`` node XMLs of ``guests`` each and a config naming them (``kvm00``…),
    then ``down`` down hosts and ``hung`` hung hosts (``down00``…, ``hung00``…) and any
    ``extra`` (name, uri) such as a real ``qemu+ssh://`` host."""
    directory.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(directory)
    for i in range(hosts):
        path = directory / f"host{i:02d}.xml"
        path.write_text(node_xml(i, guests))
        fleet.uris.append(f"test://{path.resolve()}")
        fleet.names.append(host_name(i))
    for i in range(down):
        fleet.uris.append(f"qemu+tcp://127.0.0.1:{closed_port()}/system")
        fleet.names.append(f"down{i:02d}")
    for i in range(hung):
        listener = HungListener()
        fleet.hung.append(listener)
        fleet.uris.append(listener.uri)
        fleet.names.append(f"hung{i:02d}")
    for name, uri in extra:
        fleet.uris.append(uri)
        fleet.names.append(name)
    lines = []
    for name, uri in zip(fleet.names, fleet.uris, strict=True):
        lines += ["[[hosts]]", f'name = "{name}"', f'uri = "{uri}"', ""]
    fleet.config = directory / "config.toml"
    fleet.config.write_text("\n".join(lines))
    return fleet
