"""A close while a call on the connection is held inside libvirt (tests/test_faults_*.py).

The real libvirtd behind the fault proxy (``testbed.faultproxy``) is stopped with SIGSTOP, so a
call made through the host hangs inside libvirt; a close from another thread must wait for it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from testbed.faultproxy import Proxy
from testbed.wait import until
from tui.adapters.libvirt.host import LibvirtHost
from tui.model.backend import BackendError, HostEvents

NO_EVENTS = HostEvents(lambda _e: None, lambda _e: None, lambda _r: None)


@asynccontextmanager
async def close_during_held_call(
    proxy: Proxy, host: LibvirtHost, call: Callable[[], Any], what: str
) -> AsyncIterator[dict[str, Any]]:
    """Freeze the peer, run ``call`` in a thread until it is in flight, start ``host.close``
    in another, and check that 1 s later the call has not returned and the close still waits.
    The body runs then (the peer still stopped). After it: the peer resumes, the call returns,
    the close completes after it and leaves no call in flight. Yields what the call left:
    ``result`` or ``error`` (a BackendError), and ``at`` (when it returned)."""
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["result"] = call()
        except BackendError as exc:
            done["error"] = exc
        done["at"] = time.monotonic()

    proxy.freeze()
    try:
        threading.Thread(target=run, daemon=True).start()
        await until(lambda: host.calls_in_flight == 1, f"the {what} in flight", 5)
        await asyncio.sleep(0.3)  # inside libvirt, waiting for the stopped peer
        closer = threading.Thread(target=host.close, daemon=True)
        closer.start()
        await asyncio.sleep(1.0)
        assert "at" not in done, f"the {what} returned while the peer was stopped"
        assert closer.is_alive() and host.closed_at is None, f"closed under the {what}"
        yield done
    finally:
        proxy.resume()
    await until(lambda: "at" in done, f"the {what} to return", 20)
    await until(lambda: host.closed_at is not None, "the deferred close", 20)
    assert host.closed_at is not None and host.closed_at >= done["at"]
    assert host.calls_in_flight == 0
