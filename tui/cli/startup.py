"""Start-up work that runs before Textual is imported (bench P5).

The hosts connect and answer their first poll in daemon threads while the main thread imports
Textual (0.4 s here); libvirt's event loop is registered first, on the loop the app will run
on, so the connections get their events. The app's controllers adopt the results.

Only the first PREFETCH_HOSTS hosts: their guests are enough for a first frame, and with 50
hosts the other threads (open and first poll each) took the CPU the import and the first
render need (bench P7: about 280 ms of CPU before the screen was up). The others connect
through their controllers once the app runs.
"""

from __future__ import annotations

import asyncio
from functools import partial

from tui.core.prefetch import Prefetch
from tui.model.ids import HostId

PREFETCH_HOSTS = 4


def start_prefetch(
    uris: list[str | None], readonly: bool, demo: bool, loop: asyncio.AbstractEventLoop
) -> dict[HostId, Prefetch]:
    from tui.adapters.libvirt.connection import register_event_loop
    from tui.cli.wiring import make_services

    register_event_loop(loop)
    backend = make_services(demo).host_backend
    return {
        HostId.of(uri): Prefetch(partial(backend, uri, readonly)) for uri in uris[:PREFETCH_HOSTS]
    }
