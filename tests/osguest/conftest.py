"""The guest with a real OS (tests/support/osguest.py), booted once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed import bed
from tests.support import osguest


@pytest.fixture(scope="session")
def os_guest(libvirtd) -> Iterator[osguest.OsGuest]:  # type: ignore[no-untyped-def]
    """Debian 12 under TCG with the guest agent and root autologin on ttyS0; destroyed,
    undefined (snapshot metadata too) and its overlay removed at the end."""
    try:
        guest = osguest.boot(libvirtd)
    except bed.Missing as exc:
        if bed.in_ci():
            pytest.fail(f"CI=true and {exc}")
        pytest.skip(str(exc))
    print(
        f"\nOS guest {guest.name}: agent address {guest.ip} after {guest.boot_s:.1f} s;"
        f" one agent call {guest.agent_call_s * 1000:.1f} ms"
    )
    yield guest
    osguest.remove(libvirtd, guest.name, guest.dir)  # the fixture's connection: no new one
