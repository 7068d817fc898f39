"""The guest detail screen's display doctor, and its S key: make this guest SPICE-ready.

:func:`findings_text` renders :func:`tui.core.display.display_findings` (every guest-supplied
string as plain text, never markup); :class:`DisplayDoctor` is the ``Static`` the detail screen
mounts (id ``display-doctor``) and fills from the fleet's ``DomainInfo``.

:func:`spice_ready_flow` is the key's handler: refused under ``--readonly`` (the registry),
it reads the plan in a daemon thread (``app.runner``, the host's ``spice_ready`` family),
shows the XML diff (:class:`~tui.ui.screens.spice_ready.SpiceReadyScreen`) and, once
confirmed, applies it in another thread. Nothing here touches libvirt.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from tui.core.display import display_findings, verdict
from tui.model.backend import BackendError
from tui.model.display import Finding, Level, SpiceReadyPlan
from tui.model.domain import DomainInfo
from tui.model.ids import GuestKey
from tui.ui import actions
from tui.util import display_available, terminal_safe

if TYPE_CHECKING:
    from textual.screen import Screen

ACTION_ID = "detail.spice_ready"

STYLE = {
    Level.OK: "bold green",
    Level.WARN: "bold yellow",
    Level.FAIL: "bold red",
    Level.INFO: "bold cyan",
}
MARK = {Level.OK: "ok  ", Level.WARN: "warn", Level.FAIL: "FAIL", Level.INFO: "info"}
HEAD = {
    Level.OK: "SPICE-ready",
    Level.WARN: "not fully SPICE-ready (S fixes what it can)",
    Level.FAIL: "no usable SPICE display",
}


def findings_text(findings: list[Finding]) -> Text:
    """One line per finding (status, name, detail) and, when not ok, its fix below it."""
    text = Text()
    worst = verdict(findings)
    text.append("Display: ", style="bold")
    text.append(HEAD[worst], style=STYLE[worst])
    for f in findings:
        text.append("\n")
        text.append(MARK[f.status], style=STYLE[f.status])
        text.append(f" {terminal_safe(f.name)}: ", style="bold")
        text.append(terminal_safe(f.detail, multiline=True))  # guest names, addresses: plain
        if f.fix and f.status is not Level.OK:
            text.append("\n      fix: ", style="dim")
            text.append(terminal_safe(f.fix, multiline=True), style="dim")
    return text


def where(app: Any, key: GuestKey) -> tuple[bool, bool]:
    """(remote, client_local) for the display doctor: the host is reached over the network;
    a viewer would run on the hypervisor host itself (a local URI and a display here)."""
    services = getattr(app, "services", None)
    remote = bool(services and services.is_remote_uri(key.host.libvirt_uri))
    display = display_available(os.environ)
    return remote, display and not remote


def doctor_renderable(info: DomainInfo | None, remote: bool, client_local: bool) -> Text:
    if info is None:
        return Text("Display: the guest's XML is not read yet.", style="dim")
    return findings_text(display_findings(info, remote, client_local))


class DisplayDoctor(Static):
    """The display doctor on the guest detail screen (a ``Static``, id ``display-doctor``)."""

    DEFAULT_CSS = """
    DisplayDoctor {
        height: auto; padding: 0 1; border: round $panel; border-title-color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Display doctor (S: make SPICE-ready)"

    _shown: tuple[object, ...] | None = None

    def show(self, info: DomainInfo | None, key: GuestKey) -> None:
        """Called on every render of the detail screen: repaints only when the facts change
        (``DomainInfo`` is replaced, never mutated, when the guest's XML is re-read)."""
        remote, local = where(self.app, key)
        shown = (info, remote, local)
        if shown == self._shown:
            return
        self._shown = shown
        self.update(doctor_renderable(info, remote, local))


# -- S: make this guest SPICE-ready ---------------------------------------------------------------
def spice_ready_flow(screen: Screen[Any], key: GuestKey) -> None:
    """The S key on the guest detail screen."""
    app: Any = screen.app
    if actions.refuse(app, ACTION_ID):
        return
    ctl = getattr(app, "controllers", {}).get(key.host)
    spice = ctl.capabilities.spice_ready if ctl is not None else None
    guest = app.fleet.guest(key) if getattr(app, "fleet", None) else None
    if spice is None or guest is None or app.runner is None:
        app.notify(f"{key.host} is not connected.", severity="error", markup=False)
        return
    name = guest.name
    title = f"SPICE-ready: {name}"

    def failed(exc: BaseException) -> bool:
        if not isinstance(exc, BackendError):
            return False
        app.notify(exc.message, title=title, severity="error", timeout=10, markup=False)
        app.log_event(f"spice-ready {name}: {exc.message}")
        return True

    def planned(plan: SpiceReadyPlan) -> None:
        if not plan.persistent:
            app.notify(
                f"{name} is transient: it has no saved config to change. Define it "
                "(virsh define) or add the devices with virt-xml before it is created.",
                title=title,
                severity="warning",
                timeout=10,
                markup=False,
            )
            return
        if not plan.needed:
            app.notify(
                f"{name} already has the agent channel, USB redirection, sound and a USB 3 "
                "controller in its saved config.",
                title=title,
                markup=False,
            )
            return
        from tui.ui.screens.spice_ready import SpiceReadyScreen

        def answered(yes: bool | None) -> None:
            if not yes or actions.refuse(app, ACTION_ID):
                return
            app.runner.submit(
                f"spice-ready apply {name}",
                lambda: spice.apply(name, plan.new_xml, plan.base_xml),
                done=applied,
                failed=failed,
            )

        app.push_screen(SpiceReadyScreen(plan), answered)

    def applied(message: str) -> None:
        app.notify(message, title=title, timeout=10, markup=False)
        app.log_event(message)
        if ctl is not None:
            ctl.mark_stale(key.uuid)  # re-read its XML at the next poll

    app.runner.submit(
        f"spice-ready plan {name}",
        lambda: spice.plan(name),
        done=planned,
        failed=failed,
    )
