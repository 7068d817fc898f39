"""No use-after-free of a libvirt connection (issue 24, item 2).

A host that hangs (the fault proxy stopped with SIGSTOP) and answers again: on main, after
about 200 s of abandoned connects and polls, the process died in libvirt.so (SIGSEGV) about a
second after SIGCONT, because a connection was closed in one thread while another still had a
call on it, and libvirtaio's handles were added and removed from daemon threads.

The rule now: a close waits for the calls in flight on its connection (and for every other
holder of it) before it frees it; libvirtaio's bookkeeping is done under a lock and everything
that touches asyncio happens on the loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from testbed import bed, faultproxy
from testbed.wait import until
from tests.support.faults import NO_EVENTS, close_during_held_call
from tests.support.tmux import Term
from tui.adapters.libvirt.connection import register_event_loop
from tui.adapters.libvirt.host import LibvirtHost
from tui.model.backend import BackendError

pytestmark = pytest.mark.libvirtd


async def test_a_close_waits_for_the_call_in_flight(libvirtd: Any) -> None:
    """The rule, deterministic: a poll hangs inside libvirt (the proxy is stopped); a close
    from another thread does not free the connection until that poll has returned."""
    register_event_loop()
    with faultproxy.running() as proxy:
        host = LibvirtHost(proxy.uri, False, NO_EVENTS)
        await asyncio.to_thread(host.open)
        async with close_during_held_call(proxy, host, lambda: host.poll(("cpu",)), "poll"):
            # A new call after the close began fails at once, without touching libvirt.
            with pytest.raises(BackendError) as err:
                host.poll(("cpu",))
            assert err.value.lost


async def test_connections_opened_and_closed_in_threads_leave_libvirtaio_clean(
    libvirtd: Any,
) -> None:
    """Eight connections opened, given events and closed at once in daemon threads, as the
    abandoned connects of a hung host do when it answers again: every handle and timer they
    added is removed, and freed, on the loop; the loop reports no error."""
    register_event_loop()
    import libvirtaio

    impl = libvirtaio.getCurrentImpl()
    assert impl is not None
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _l, ctx: errors.append(ctx))
    before = set(impl.callbacks)
    try:
        for _round in range(3):
            hosts = [LibvirtHost(bed.SYSTEM_URI, False, NO_EVENTS) for _ in range(8)]
            await asyncio.gather(*(asyncio.to_thread(h.open) for h in hosts))
            await asyncio.sleep(0.2)  # the loop serves them (keepalive, event timers)
            await asyncio.gather(*(asyncio.to_thread(h.close) for h in hosts))
            await until(lambda: set(impl.callbacks) <= before, "handles removed", 10)
            await asyncio.sleep(0.2)  # the free callbacks run on the loop
            assert all(h.closed_at is not None for h in hosts)
    finally:
        loop.set_exception_handler(old_handler)
    assert not errors, errors


# -- the 200 s repro, with the real binary under faulthandler -------------------------------
HANG_S = float(os.environ.get("KVMDECK_HANG_S", "200"))
REPEATS = int(os.environ.get("KVMDECK_HANG_REPEATS", "2"))


@pytest.mark.slow
@pytest.mark.timeout(REPEATS * (HANG_S + 150) + 120)
def test_a_host_hung_200_s_answers_again_without_a_crash(libvirtd: Any, tmp_path: Path) -> None:
    """kvmdeck watches test:///default and the real libvirtd through the proxy; the proxy is
    stopped for 200 s (connects and polls abandoned again and again), then continued: the
    process lives (faulthandler would print a fatal error), the host comes back, and a guest
    suspended afterwards shows as paused. Twice in a row."""
    guest = bed.create_transient(libvirtd, 0, tag="hang")
    log = tmp_path / "kvmdeck.log"
    try:
        with faultproxy.running() as proxy:
            term = Term(
                ["-c", "test:///default", "-c", proxy.uri, "--refresh", "1", "--log", str(log)],
                size=(200, 50),
                env={"PYTHONFAULTHANDLER": "1"},
            )
            try:
                term.wait_screen(lambda s: guest.name in s, 60, "the guest row")
                dom = libvirtd.lookupByUUIDString(guest.uuid)
                for round_ in range(REPEATS):
                    proxy.freeze()
                    try:
                        end = time.monotonic() + HANG_S
                        while time.monotonic() < end:
                            assert term.alive(), f"died while hung (round {round_})"
                            time.sleep(2)
                    finally:
                        proxy.resume()
                    time.sleep(3)  # the crash came about 1 s after SIGCONT
                    assert term.alive(), f"died after the host answered (round {round_}):\n" + (
                        term.screen()
                    )
                    dom.suspend()
                    try:
                        term.wait_screen(
                            lambda s: any(
                                guest.name in ln and "paused" in ln for ln in s.splitlines()
                            ),
                            60,
                            f"round {round_}: the guest paused after the host came back",
                        )
                    finally:
                        dom.resume()
                    term.wait_screen(
                        lambda s: any(
                            guest.name in ln and "running" in ln for ln in s.splitlines()
                        ),
                        30,
                        f"round {round_}: the guest running again",
                    )
                assert term.alive()
            finally:
                term.close()
        text = log.read_text(errors="replace") if log.exists() else ""
        assert "Fatal Python error" not in text
        assert "no answer" in text  # it did hang: connects were abandoned
    finally:
        bed.remove(libvirtd, guest)
