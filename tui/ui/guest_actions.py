"""A guest's lifecycle keys and its graphical console, by :class:`~tui.model.ids.GuestKey`.

The main screen (the selected row), the detail screen (the guest shown) and the bulk actions
call the same :class:`GuestActions` (``app.guests``): the same refusals ("web is already
running"), confirmations (force off, reboot) and messages, and none of them moves the main
table's cursor. It is the app's (``app.guests``): the screens' commands
(:meth:`tui.ui.deck.Deck.request`) end in :meth:`GuestActions.request`, which sends the verb
and marks a shutdown pending in the Fleet; its deadline comes back to
:meth:`GuestActions.check_overdue`. Screens never write the Fleet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.guest_rules import guest_refusal
from tui.core.ports import BackendError
from tui.model.fleet import PENDING_SHUTDOWN, Change, Guest
from tui.model.guest import GuestState
from tui.model.ids import GuestKey
from tui.model.viewers import ConsoleResult, ViewerOpened, ViewerState
from tui.ui import actions
from tui.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui.ui.app import KvmDeckApp

SHUTDOWN_GRACE_S = 60.0  # after an ACPI shutdown, how long before "still running: force off?"


def _usb_redirect(name: str) -> list[tuple[int, int]]:
    """The devices the USB rules give guest ``name``: its viewer redirects them too. Reads
    rules.toml (blocks: from the runner); loaded only when a console opens."""
    from tui.core.usb.redirect import redirect_ids

    return redirect_ids(name)


class GuestActions:
    """Lifecycle verbs and the console for one guest at a time, by key (the app owns one)."""

    def __init__(self, app: KvmDeckApp) -> None:
        self.app = app
        self.shutdown_grace_s = SHUTDOWN_GRACE_S
        self.opening: set[str] = set()  # guests whose console is being opened

    # -- what may act now ----------------------------------------------------------------
    def viewer_pids(self) -> dict[str, int]:
        """Guest name -> pid of the viewer kvmdeck has open on it (none before the first v)."""
        launcher = self.app.consoles.current
        if launcher is None:
            return {}
        return {v.guest: v.pid for v in launcher.viewers() if v.alive}

    def refusal(self, g: Guest, verb: str) -> str | None:
        """Why ``verb`` (a lifecycle verb, or "console") cannot apply to ``g`` now, or None."""
        host = self.app.fleet.hosts.get(g.key.host)
        if host is not None and not host.up:
            return f"{host.label} is {host.state.value}: {g.name} cannot be reached"
        if verb == "console" and g.name in self.opening:
            return f"the console of {g.name} is opening"
        pid = self.viewer_pids().get(g.name) if verb == "console" else None
        return guest_refusal(g, verb, pid)

    def _guest(self, key: GuestKey, action_id: str) -> Guest | None:
        g = self.app.fleet.guest(key)
        if g is None:
            self.app.notify("That guest is gone.", severity="warning")
        return g

    # -- lifecycle -----------------------------------------------------------------------
    def run(self, key: GuestKey, verb: str, action_id: str | None = None) -> None:
        """A lifecycle key on guest ``key`` (``action_id``: the binding that asked, for the
        refusal's title; the main screen's by default)."""
        app = self.app
        action_id = action_id or f"guest.{verb}"
        if actions.refuse(app, action_id):
            return
        g = self._guest(key, action_id)
        if g is None:
            return
        reason = self.refusal(g, verb)
        if reason is not None:
            actions.say_refused(app, action_id, reason)
            return
        if verb == "pause":
            verb = "resume" if g.sample.state_code == GuestState.PAUSED else "pause"
        if verb == "destroy":
            self.ask_force_off(
                key,
                f"Force off '{g.name}'{app.where(key.host)}? This is like pulling the "
                "power cord: unsaved data in the guest is lost.",
            )
            return
        if verb == "reboot":
            self._ask_reboot(g)
            return
        app.request(key, verb)

    def ask_force_off(self, key: GuestKey, question: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._force_off(key)

        self.app.push_screen(ConfirmScreen(question, yes_label="Force off"), answered)

    def _ask_reboot(self, g: Guest) -> None:
        """Reboot asks first: its programs end, and its OS may ignore the request (ACPI)."""
        key = g.key

        def answered(yes: bool | None) -> None:
            app = self.app
            now = app.fleet.guest(key)
            if not yes or now is None or actions.refuse(app, "guest.reboot"):
                return
            reason = self.refusal(now, "reboot")  # it may have stopped meanwhile
            if reason is not None:
                actions.say_refused(app, "guest.reboot", reason)
                return
            app.request(key, "reboot")

        question = (
            f"Reboot '{g.name}'{self.app.where(key.host)}? Its programs are stopped and"
            " unsaved data in them is lost. "
            "The request goes to its OS (ACPI), which may ignore it."
        )
        self.app.push_screen(ConfirmScreen(question, yes_label="Reboot"), answered)

    def _force_off(self, key: GuestKey) -> None:
        """After "yes": the guest may have stopped meanwhile (then say so, no libvirt error)."""
        app = self.app
        g = app.fleet.guest(key)
        if g is None or actions.refuse(app, "guest.destroy"):
            return
        reason = self.refusal(g, "destroy")
        if reason is not None:
            actions.say_refused(app, "guest.destroy", reason)
            return
        app.request(key, "destroy")

    def overdue(self, g: Guest) -> None:
        """A shutdown's deadline passed (the app cleared the mark): a guest still running says
        so and, on the main screen, offers force off."""
        if not g.sample.active:
            return
        app = self.app
        grace, on = f"{self.shutdown_grace_s:g} s", app.where(g.key.host)
        text = f"{g.name}{on} is still running {grace} after the shutdown request"
        app.notify(
            f"{text} (it may ignore ACPI): X forces it off.",
            title="Shut down guest (ACPI)",
            severity="warning",
            timeout=10,
            markup=False,
        )
        app.log_event(text, key=g.key)
        if app.screen is app.main_screen and not app.readonly:
            self.ask_force_off(
                g.key,
                f"{text}: it may ignore ACPI. Force it off? This is like pulling the "
                "power cord: unsaved data in the guest is lost.",
            )

    # -- commands: the app's part that writes the Fleet (screens go through Deck.request) --
    def request(self, key: GuestKey, verb: str) -> None:
        """Send ``verb``; a shutdown is marked pending until its deadline."""
        app = self.app
        g = app.fleet.guest(key)
        ctl = app.controllers.get(key.host)
        if g is None or ctl is None:
            return
        ctl.act(key.uuid, g.name, verb)
        if verb == "shutdown":
            grace = self.shutdown_grace_s
            app.changed(app.fleet.set_pending(key, PENDING_SHUTDOWN, grace))
            app.set_timer(grace + 0.05, self.check_overdue)

    def check_overdue(self) -> None:
        """Shutdowns past their deadline: the mark goes, and a guest still running says so."""
        app = self.app
        for g in app.fleet.overdue():
            app.changed(app.fleet.clear_pending(g.key))
            self.overdue(g)

    # -- the graphical console -----------------------------------------------------------
    def console(self, key: GuestKey, action_id: str = "guest.console") -> None:
        app = self.app
        g = self._guest(key, action_id)
        if g is None:
            return
        reason = self.refusal(g, "console")
        if reason is not None:
            actions.say_refused(app, action_id, reason)
            return
        consoles = app.caps(key.host).consoles
        if consoles is None or app.runner is None or app.services.launcher is None:
            app.notify(f"{app.label(key.host)} is not connected.", severity="error", markup=False)
            return
        app.notify(f"Opening the console of {g.name}…", timeout=3, markup=False)
        launcher = app.consoles.launcher
        name = g.name
        where, host = f"{name}{app.where(key.host)}", app.label(key.host)
        self.opening.add(name)

        def failed(exc: BaseException) -> bool:
            self.opening.discard(name)
            if not isinstance(exc, BackendError):
                return False
            app.notify(
                exc.message, title=f"Console of {where}", severity="error", timeout=10, markup=False
            )
            app.log_event(f"console {name}: {exc.message}")
            return True

        app.runner.submit(
            f"console {name}",
            lambda: consoles.open(name, launcher, _usb_redirect(name)),
            done=lambda result: self._console_opened(name, result, host),
            failed=failed,
        )

    def _console_opened(self, name: str, result: ConsoleResult, host: str = "") -> None:
        app = self.app
        self.opening.discard(name)
        if isinstance(result, ViewerOpened):  # a viewer was started
            failed = result.viewer.state is ViewerState.FAILED
            app.notify(result.message, severity="error" if failed else "information", markup=False)
            app.log_event(result.message)
            app.changed(Change())  # the table's viewer marks and the footer's keys
            return
        from tui.ui.screens.console import ClientCommandDialog

        app.push_screen(ClientCommandDialog(result, host if len(app.fleet.hosts) > 1 else ""))


__all__ = ["SHUTDOWN_GRACE_S", "GuestActions"]
