"""The apps the Pilot tests drive, and the one way they wait for the app."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from testbed.wait import until
from tui.adapters.libvirt.connection import demo_uri
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions, KvmDeckApp

T = TypeVar("T")


async def app_until(
    pilot: Any,
    predicate: Callable[[], T],
    what: str = "condition",
    timeout: float = 30.0,
    step: float = 0.05,
) -> T:
    """``testbed.wait.until`` paced by ``pilot.pause``; a timeout shows the app's event log."""

    def events() -> str:
        fleet = getattr(pilot.app, "fleet", None)
        return "event log:\n" + "\n".join(str(x) for x in fleet.events) if fleet else ""

    return await until(predicate, what, timeout, step=step, pause=pilot.pause, explain=events)


async def drawn(pilot: Any, what: str = "a frame", timeout: float = 30.0) -> None:
    """Every change the app had received when called is on screen. Polls and address runs
    render paced (RENDER_GAP_S after the last frame) and the first host's polls wait for the
    host sample, so the store (``app.fleet``) can be a frame ahead of the table and the bars;
    no pause is long enough for that on every machine. The queue empties only by a render."""
    app = pilot.app
    mark = time.monotonic()
    await app_until(pilot, lambda: not app._pending or app._rendered_at > mark, what, timeout)


def demo_app(**kw: Any) -> KvmDeckApp:
    """The demo app (the test driver made to look alive), live."""
    return make_app(AppOptions(uris=[demo_uri()], demo=True, vt_badge="KVM: test", **kw))


def fixed_app() -> KvmDeckApp:
    """The demo app with nothing live: the snapshot tests feed it fixed samples."""
    return make_app(
        AppOptions(
            uris=[demo_uri()], demo=True, live=False, vt_badge="KVM: PVM", host_labels=["demo-host"]
        )
    )
