"""The guest detail screen's display doctor, and its S key: make this guest SPICE-ready.

:func:`findings_parts` renders :func:`tui.core.display.display_findings` (every guest-supplied
string as plain text, never markup); :class:`DisplayDoctor` is the container the detail screen
mounts (id ``display-doctor``) and fills from the fleet's ``DomainInfo``: the findings' lines,
and each fix line (often a ``virt-xml`` command to copy) whole on one row that scrolls sideways
(:class:`~tui.ui.widgets.command_row.CommandRow`), never wrapped in the middle.

:func:`spice_ready_flow` is the key's handler: refused under ``--readonly`` (the registry),
it reads the plan in a daemon thread (``app.runner``, the host's ``spice_ready`` family),
shows the XML diff (:class:`~tui.ui.screens.spice_ready.SpiceReadyScreen`) and, once
confirmed, applies it in another thread. Nothing here touches libvirt.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from tui.core.display import NEXT_BOOT, display_findings, verdict
from tui.model.backend import BackendError
from tui.model.display import DisplayFacts, Finding, Level, SpiceReadyPlan
from tui.model.domain import DisplayInfo, DomainInfo
from tui.model.ids import GuestKey
from tui.ui import actions
from tui.ui.deck import Deck, deck_of
from tui.ui.widgets.command_row import CommandRow, command_text, fix_rows
from tui.util import display_available, terminal_safe

if TYPE_CHECKING:
    from textual.dom import DOMNode

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
    """One line per finding (status, name, detail) and, when not ok, its fix below it: the
    whole report as one text (tests, and what :class:`DisplayDoctor` shows, row by row)."""
    text = Text()
    for part in findings_parts(findings):
        if text:
            text.append("\n")
        text.append_text(FIX_INDENT + command_text(*part) if isinstance(part, tuple) else part)
    return text


FIX_INDENT = Text("      ")  # under the finding's name, as doctor --guest prints it


def _finding_line(f: Finding) -> Text:
    text = Text()
    text.append(MARK[f.status], style=STYLE[f.status])
    text.append(f" {terminal_safe(f.name)}: ", style="bold")
    text.append(terminal_safe(f.detail, multiline=True))  # guest names, addresses: plain
    return text


def findings_parts(findings: list[Finding]) -> list[Text | tuple[str, str]]:
    """The report in order: a finding's line (``Text``, it may wrap) or a fix line as
    ``(command, prefix)`` for a :class:`CommandRow` (never wrapped: it scrolls)."""
    worst = verdict(findings)
    head = Text()
    head.append("Display: ", style="bold")
    head.append(HEAD[worst], style=STYLE[worst])
    parts: list[Text | tuple[str, str]] = [head]
    for f in findings:
        parts.append(_finding_line(f))
        if f.fix and f.status is not Level.OK:  # a command: a row of its own, never wrapped
            parts += [FIX_INDENT + row if isinstance(row, Text) else row for row in fix_rows(f.fix)]
    return parts


def where(deck: Deck, key: GuestKey) -> tuple[bool, bool]:
    """(remote, client_local) for the display doctor: the host is reached over the network;
    a viewer would run on the hypervisor host itself (a local URI and a display here)."""
    remote = deck.services.is_remote_uri(key.host.libvirt_uri)
    display = display_available(os.environ)
    return remote, display and not remote


NOT_READ = Text("Display: the guest's XML is not read yet.", style="dim")


def doctor_parts(
    info: DomainInfo | None, remote: bool, client_local: bool, saved: DisplayInfo | None = None
) -> list[Text | tuple[str, str]]:
    if info is None:
        return [NOT_READ]
    return findings_parts(display_findings(info, remote, client_local, saved))


class DisplayDoctor(Vertical):
    """The display doctor on the guest detail screen (id ``display-doctor``): the findings'
    lines (they wrap) and each fix line a :class:`CommandRow`, whole on one row (it scrolls
    sideways), so a ``virt-xml`` command is never broken in the middle. :attr:`text` is the
    report as one text."""

    DEFAULT_CSS = """
    DisplayDoctor {
        height: auto; padding: 0 1; border: round $panel; border-title-color: $text-muted;
    }
    DisplayDoctor > .findings { width: 1fr; }
    DisplayDoctor > CommandRow { margin-left: 6; }
    DisplayDoctor > CommandRow > .command { padding: 0; }
    """

    def on_mount(self) -> None:
        self.border_title = "Display doctor (S: make SPICE-ready)"

    _shown: tuple[object, ...] | None = None
    _text: Text = Text()
    # The facts ``doctor --guest`` reads (XML_SECURE on a read-write connection: whether a
    # password is set; a running guest's saved config), read for the fleet's DomainInfo
    # ``_asked`` (replaced, never mutated, when the guest's XML is re-read).
    _facts: tuple[DomainInfo, DisplayFacts] | None = None
    _asked: DomainInfo | None = None
    _last: tuple[DomainInfo | None, GuestKey] | None = None

    @property
    def text(self) -> Text:
        """The report as shown, as one text (``\\n`` between its rows)."""
        return self._text

    def show(self, info: DomainInfo | None, key: GuestKey) -> None:
        """Called on every render of the detail screen: repaints only when the facts change.
        The fleet's facts first; the host's own reading (as ``doctor --guest``) once it came."""
        self._last = (info, key)
        if info is not None and info is not self._asked:
            self._read(info, key)
        remote, local = where(deck_of(self), key)
        saved = None
        if self._facts is not None and info is not None and self._facts[0] is info:
            info, saved = self._facts[1].info, self._facts[1].saved
        shown = (info, saved, remote, local)
        if shown == self._shown:
            return
        self._shown = shown
        self._paint(doctor_parts(info, remote, local, saved))

    def _paint(self, parts: list[Text | tuple[str, str]]) -> None:
        """Finding lines grouped in ``Static``s, each fix line a ``CommandRow``."""
        widgets: list[Widget] = []
        lines: list[Text] = []
        whole: list[Text] = []

        def flush() -> None:
            if lines:
                widgets.append(Static(Text("\n").join(lines), classes="findings"))
                lines.clear()

        for part in parts:
            if isinstance(part, Text):
                lines.append(part)
                whole.append(part)
            else:
                flush()
                row = CommandRow(*part)
                widgets.append(row)
                whole.append(FIX_INDENT + row.text)
        flush()
        self._text = Text("\n").join(whole)
        self.remove_children()
        self.mount_all(widgets)

    def _read(self, info: DomainInfo, key: GuestKey) -> None:
        deck = deck_of(self)  # the host's make-SPICE-ready family: None while it is not up
        spice, runner = deck.caps(key.host).spice_ready, deck.runner
        if spice is None or runner is None:
            return
        self._asked = info

        def done(facts: DisplayFacts) -> None:
            self._facts = (info, facts)
            if self._last is not None and self.is_attached:
                self.show(*self._last)

        def failed(exc: BaseException) -> bool:  # the fleet's facts stay shown
            return isinstance(exc, BackendError)

        runner.submit(f"display facts {info.name}", lambda: spice.facts(info.name), done, failed)


# -- S: make this guest SPICE-ready ---------------------------------------------------------------
def spice_ready_flow(screen: DOMNode, key: GuestKey) -> None:
    """The S key on the guest detail screen."""
    app, deck = screen.app, deck_of(screen)
    if actions.refuse(deck, ACTION_ID):
        return
    spice = deck.caps(key.host).spice_ready
    guest = deck.fleet.guest(key)
    runner = deck.runner
    if spice is None or guest is None or runner is None:
        app.notify(f"{key.host} is not connected.", severity="error", markup=False)
        return
    name = guest.name
    title = f"SPICE-ready: {name}"

    def failed(exc: BaseException) -> bool:
        if not isinstance(exc, BackendError):
            return False
        app.notify(exc.message, title=title, severity="error", timeout=10, markup=False)
        deck.log_event(f"spice-ready {name}: {exc.message}")
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
            live = guest.info is None or not any(
                f.status in (Level.WARN, Level.FAIL)
                for f in display_findings(guest.info, False, False)
                if f.name in ("Agent channel", "USB redirection", "Sound", "USB controller")
            )
            app.notify(
                f"{name} already has the agent channel, USB redirection, sound and a USB 3 "
                "controller in its saved config"
                + ("." if live else f": {NEXT_BOOT.split(' — ', 1)[1]}."),
                title=title,
                markup=False,
            )
            return
        from tui.ui.screens.spice_ready import SpiceReadyScreen

        def answered(yes: bool | None) -> None:
            if not yes or actions.refuse(deck, ACTION_ID):
                return
            runner.submit(
                f"spice-ready apply {name}",
                lambda: spice.apply(name, plan.new_xml, plan.base_xml),
                done=applied,
                failed=failed,
            )

        app.push_screen(SpiceReadyScreen(plan), answered)

    def applied(message: str) -> None:
        app.notify(message, title=title, timeout=10, markup=False)
        deck.log_event(message)
        deck.mark_stale(key)  # re-read its XML at the next poll

    runner.submit(
        f"spice-ready plan {name}",
        lambda: spice.plan(name),
        done=planned,
        failed=failed,
    )
