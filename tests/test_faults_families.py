"""The capability families count their calls on the host's connection (issue 24, item 2).

A close waits for the calls in flight on its connection before it frees it
(tests/test_faults_hang.py shows it for a poll). The families (storage, networks,
provisioning, snapshots, the SPICE display, consoles, USB) used to read the connection
directly, so a close during a pool listing, a snapshot list or an upload freed it under
them. Here a family call is held inside libvirt by the real daemon behind the fault proxy
stopped with SIGSTOP (no fake), while another thread closes the host.
"""

from __future__ import annotations

import asyncio
from typing import Any

import libvirt
import pytest

from testbed import faultproxy
from tests.support.faults import NO_EVENTS, close_during_held_call
from tui.adapters.libvirt.connection import register_event_loop
from tui.adapters.libvirt.host import LibvirtHost
from tui.model.backend import BackendError

pytestmark = pytest.mark.libvirtd


@pytest.mark.parametrize("family", ["storage", "networks", "snapshots"])
async def test_a_close_waits_for_a_family_call_in_flight(libvirtd: Any, family: str) -> None:
    """A pool listing, a network listing or a snapshot list hangs inside libvirt (the proxy
    is stopped); a close from another thread does not free the connection until that call
    returned, and a family call made after the close began fails at once."""
    register_event_loop()
    with faultproxy.running() as proxy:
        host = LibvirtHost(proxy.uri, False, NO_EVENTS)
        await asyncio.to_thread(host.open)
        caps = host.capabilities()
        assert caps.storage is not None and caps.networks is not None
        assert caps.snapshots is not None
        calls = {
            "storage": caps.storage.pools,
            "networks": caps.networks.networks,
            # a guest that does not exist: the lookup RPC is what hangs, then it fails
            "snapshots": lambda: caps.snapshots.list("00000000-0000-4000-8000-00000000f4a1"),
        }
        async with close_during_held_call(proxy, host, calls[family], f"{family} call") as done:
            # A family call after the close began fails at once, without touching libvirt.
            with pytest.raises(BackendError, match="not connected"):
                caps.storage.volumes("default")
            with pytest.raises(BackendError, match="not connected"):
                caps.snapshots.list("00000000-0000-4000-8000-00000000f4a1")
            assert host.calls_in_flight == 1
        if family != "snapshots":
            assert "result" in done, done  # it ran to its end on the live connection


async def test_the_close_deregisters_the_usb_feed_before_it_frees_the_connection(
    libvirtd: Any,
) -> None:
    """The USB node-device feed registers a callback of its own on the host's connection.
    The app stops an old feed only after the host reconnected, so the host's close must
    deregister it (``add_release``) and stop its threads; the feed's own stop afterwards
    touches nothing (its connection is gone)."""
    register_event_loop()
    host = LibvirtHost("qemu:///system", False, NO_EVENTS)
    await asyncio.to_thread(host.open)
    usb = host.capabilities().usb
    assert usb is not None
    feed = usb.device_feed()
    await asyncio.to_thread(feed.start, asyncio.get_running_loop(), lambda _events: None)
    watch = feed.watch  # type: ignore[attr-defined]
    assert watch.mode == "events" and watch.callback_id is not None
    assert host.calls_in_flight == 0  # the feed holds the connection only while it calls
    await asyncio.to_thread(host.close)
    assert host.closed_at is not None
    assert watch.callback_id is None, "the close left the node-device callback registered"
    assert watch._halted.is_set()
    feed.stop()  # after the close: nothing to deregister, no call on the freed connection
    assert watch.callback_id is None
    with pytest.raises(BackendError, match="not connected"):
        usb.device_feed()


async def test_a_feed_stopped_before_the_close_deregisters_itself_once(libvirtd: Any) -> None:
    """The feed's own stop deregisters on the live, counted connection; the close then
    finds nothing left to do for it (a second deregistration would fail in libvirt)."""
    register_event_loop()
    host = LibvirtHost("qemu:///system", False, NO_EVENTS)
    await asyncio.to_thread(host.open)
    usb = host.capabilities().usb
    assert usb is not None
    feed = usb.device_feed()
    await asyncio.to_thread(feed.start, asyncio.get_running_loop(), lambda _events: None)
    watch = feed.watch  # type: ignore[attr-defined]
    cid = watch.callback_id
    assert cid is not None
    await asyncio.to_thread(watch.unregister)
    assert watch.callback_id is None
    # really gone from libvirt: deregistering again is refused
    with host.using() as conn, pytest.raises(libvirt.libvirtError):
        conn.nodeDeviceEventDeregisterAny(cid)
    await asyncio.to_thread(host.close)
    assert host.closed_at is not None and host.calls_in_flight == 0
