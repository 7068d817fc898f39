"""The apps the Pilot tests drive, and the one way they wait for the app."""

from __future__ import annotations

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
