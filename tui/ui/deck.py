"""The one declared surface between the screens (and features) and the app: :class:`Deck`.

Screens read the :class:`~tui.model.fleet.Fleet` and the host capabilities through it, issue
commands by :class:`~tui.model.ids.GuestKey`, log events, and ask the read-only flag and the
runner. They never write the Fleet: a pending state ("shutting down") is set by the app when
it carries out the command (:meth:`Deck.request`). :class:`tui.ui.app.KvmDeckApp` implements
it; :func:`deck_of` gives a screen or widget its app as a Deck. Textual's own API (``notify``,
``push_screen``…) stays on ``self.app``; ``notify`` is in both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from tui.core.ports import NO_CAPABILITIES, HostCapabilities
from tui.model.fleet import Change, Fleet
from tui.model.ids import GuestKey, HostId

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.notifications import SeverityLevel

    from tui.config import Settings
    from tui.core.controller import HostController
    from tui.core.ports import Services
    from tui.core.runner import Runner
    from tui.ui.bulk import Batch
    from tui.ui.features import Consoles, VtProbe
    from tui.ui.guest_actions import GuestActions


class Deck(Protocol):
    """What a screen may use of the app (besides Textual's own API)."""

    @property
    def fleet(self) -> Fleet:
        """The one state store, to read. Only the app writes it."""
        ...

    @property
    def readonly(self) -> bool: ...

    @property
    def runner(self) -> Runner | None:
        """Blocking work (``runner.submit``); None until the main screen is mounted."""
        ...

    @property
    def services(self) -> Services: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def is_demo(self) -> bool:
        """--demo, or a test:// host: the header says DEMO."""
        ...

    @property
    def vt(self) -> VtProbe:
        """The virtualization probe: the header's KVM badge and the doctor screen."""
        ...

    @property
    def refresh_s(self) -> float:
        """Seconds between two polls."""
        ...

    @property
    def consoles(self) -> Consoles:
        """The launcher of graphical consoles (remote-viewer) and the viewers it runs."""
        ...

    @property
    def guests(self) -> GuestActions:
        """Lifecycle keys and the console of one guest, by GuestKey (same checks and messages
        from every screen)."""
        ...

    def label(self, host: HostId) -> str:
        """A host's label (``[[hosts]] name``, else the short URI): every title names it."""
        ...

    def where(self, host: HostId) -> str:
        """`` on LABEL`` with more than one host (titles and questions name the host), else ""."""
        ...

    @property
    def batches(self) -> list[Batch]:
        """Bulk actions waiting for their guests' results (tui/ui/bulk.py adds one before it
        sends the verbs; the app's result callback sums each up)."""
        ...

    def caps(self, host: HostId) -> HostCapabilities:
        """What ``host`` can do now; empty (every family None) while it is not up."""
        ...

    def is_up(self, host: HostId) -> bool: ...

    def request(self, key: GuestKey, verb: str) -> None:
        """Send a lifecycle verb to the guest's host; the app marks a shutdown pending and
        checks its deadline. The result comes back as an event-log line and a notification."""
        ...

    def mark_stale(self, key: GuestKey) -> None:
        """Re-read the guest's XML at the next poll (after a define)."""
        ...

    def set_refresh(self, seconds: float) -> None: ...

    def reconnect_now(self, host: HostId) -> str:
        """Retry a host that is down now (skip the backoff); what was done, said plainly."""
        ...

    def show_host_only(self, label: str) -> None:
        """The main screen's guest list filtered to one host (the hosts screen's choice)."""
        ...

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A toast (Textual's, capped by severity: tui/ui/features.py QuietToasts)."""
        ...

    def log_event(self, text: str, wall: float | None = None, key: GuestKey | None = None) -> None:
        """A line in the event log (and in the guest's own, with ``key``)."""
        ...

    def main_ready(self) -> None:
        """The main screen is mounted: the app starts its sources."""
        ...

    def select_guest(self, row: str) -> None:
        """Select the guest (by row key) on the main screen."""
        ...

    def guest_choices(self) -> list[tuple[str, str]]:
        """(label, row key) of every guest, by name."""
        ...


class DeckCommands:
    """The app's side of the Deck that needs nothing of Textual: host labels, capabilities,
    and the commands (a base of KvmDeckApp, which owns these fields). Only the app writes the
    Fleet: a command goes to the app's GuestActions or its HostController."""

    fleet: Fleet
    controllers: dict[HostId, HostController]
    guests: GuestActions
    refresh_s: float

    def changed(self, change: Change) -> None:  # the app's: one render per frame
        raise NotImplementedError

    def label(self, host: HostId) -> str:
        """A host's label (``[[hosts]] name``, else the short URI): every title names it."""
        h = self.fleet.hosts.get(host)
        return h.label if h is not None else host.short

    def guest_choices(self) -> list[tuple[str, str]]:
        """(label, row key) of every guest, by name: the palette's "go to guest …"."""
        guests = sorted(self.fleet.guests(), key=lambda g: g.name.lower())
        return [(g.name, g.key.row) for g in guests]

    def where(self, host: HostId) -> str:
        """`` on LABEL`` with more than one host (titles and questions name the host), else ""."""
        return f" on {self.label(host)}" if len(self.fleet.hosts) > 1 else ""

    def caps(self, host: HostId) -> HostCapabilities:
        ctl = self.controllers.get(host)  # its families while it is up
        return ctl.capabilities if ctl is not None else NO_CAPABILITIES

    def is_up(self, host: HostId) -> bool:
        return (ctl := self.controllers.get(host)) is not None and ctl.is_up

    def request(self, key: GuestKey, verb: str) -> None:
        self.guests.request(key, verb)  # the app's part that sends verbs and marks shutdowns

    def mark_stale(self, key: GuestKey) -> None:
        if (ctl := self.controllers.get(key.host)) is not None:
            ctl.mark_stale(key.uuid)

    def reconnect_now(self, host: HostId) -> str:
        ctl = self.controllers.get(host)
        return ctl.reconnect_now() if ctl is not None else "not watched"

    def set_refresh(self, seconds: float) -> None:
        self.refresh_s = seconds
        self.changed(Change(link=True))  # the hosts line shows the rate


@runtime_checkable
class LiveScreen(Protocol):
    """A screen that shows live data: the app calls it with each frame's merged change when it
    is on top (the main screen always)."""

    def render_fleet(self, fleet: Fleet, change: Change) -> None: ...


def deck_of(node: DOMNode) -> Deck:
    """The app of a screen or widget, as the Deck it implements (every screen of kvmdeck runs
    in a KvmDeckApp; tests that run a screen alone give an app with what it uses)."""
    return cast("Deck", node.app)


__all__ = ["Deck", "DeckCommands", "LiveScreen", "deck_of"]


if TYPE_CHECKING:
    from tui.ui.app import KvmDeckApp

    def _the_app_is_a_deck(app: KvmDeckApp) -> Deck:  # mypy checks it here
        return app
