"""The real binary's start-up path: hosts connected and polled before Textual is imported,
then adopted by the app, with libvirt's events still arriving on the app's loop."""

from __future__ import annotations

import libvirt
import pytest

from testbed import bed
from tests.support.tmux import Term

pytestmark = pytest.mark.libvirtd


def _row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if name[:20] in line), "")


def test_first_frame_has_guests_and_events_still_arrive(persistent_guest: bed.Guest) -> None:
    name = persistent_guest.name
    # Refresh 60 s: after the prefetched first poll, a change within the deadline below can
    # only come from libvirt's lifecycle event.
    term = Term(["-c", bed.SYSTEM_URI, "--refresh", "60"], size=(140, 40))
    try:
        term.wait_screen(lambda s: "shut off" in _row(s, name), 30, f"{name} shut off")
        conn = libvirt.open(bed.SYSTEM_URI)
        try:
            conn.lookupByName(name).create()
            term.wait_screen(lambda s: "running" in _row(s, name), 30, f"{name} running")
            conn.lookupByName(name).destroy()
        finally:
            conn.close()
        term.wait_screen(lambda s: "shut off" in _row(s, name), 30, f"{name} off again")
        term.keys("q")
        assert term.wait_exit(5.0) is not None
    finally:
        term.close()
