"""Fixtures for the real test bed. See testbed/bed.py.

Outside CI a missing component skips with the package to install; with CI=true it fails.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from testbed import bed

# Snapshots and log lines show local times: make them the same on every machine.
os.environ["TZ"] = "UTC"
time.tzset()


def need(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except bed.Missing as exc:
        if bed.in_ci():
            pytest.fail(f"CI=true and {exc}")
        pytest.skip(str(exc))


@pytest.fixture(autouse=True)
def _isolated_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests never touch the developer's real config."""
    cfg = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfg))
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)


@pytest.fixture(scope="session")
def libvirtd():  # type: ignore[no-untyped-def]
    """A real libvirtd (started if needed); yields an open qemu:///system connection."""
    conn, started = need(bed.ensure_libvirtd)
    bed.sweep(conn)
    live = bed.Reconnecting(conn, started)  # libvirtd drops it after 30 s without the loop
    yield live
    try:
        bed.sweep(live.conn)
        live.conn.close()
    except Exception:
        pass


@pytest.fixture(scope="session")
def guests(libvirtd) -> Iterator[list[bed.Guest]]:  # type: ignore[no-untyped-def]
    """Two transient TCG guests (SPICE on 127.0.0.1, qcow2 virtio disk, ethernet NIC, xhci, balloon)."""
    made = [bed.create_transient(libvirtd, i) for i in range(2)]
    yield made
    conn, _ = bed.ensure_libvirtd()
    for g in made:
        bed.remove(conn, g)


@pytest.fixture()
def persistent_guest(libvirtd) -> Iterator[bed.Guest]:  # type: ignore[no-untyped-def]
    """One persistent (defined, shut off) guest, undefined at teardown."""
    g = bed.define_persistent(libvirtd, index=os.getpid() % 1000)
    yield g
    conn, _ = bed.ensure_libvirtd()
    bed.remove(conn, g)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An sshd on 127.0.0.1 with a throwaway key, for qemu+ssh:// tests."""
    server = need(bed.start_sshd, tmp_path_factory.mktemp("sshd"))
    yield server
    bed.stop_process(server.proc)
