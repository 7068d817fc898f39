"""The action registry, Textual side: bindings, palette entries, help rows, read-only refusals.

The registry itself (:class:`Action`, :data:`ACTIONS`, :func:`check`, :func:`validate_keymap`)
is plain data in :mod:`tui.registry`, so the config loader can check a ``[keymap]`` without
textual; it is re-exported here.

Read-only gating (Textual 8.2.8)
--------------------------------
Textual's ``check_action`` has three answers: ``True`` runs the action; ``None`` shows the key
*greyed* in the footer and does not run it; ``False`` hides the key and does not run it. A greyed
key is inert: Textual's key handling (``App._check_bindings``) calls ``App.run_action``, which asks
``check_action`` again and drops the key without a word. So kvmdeck does both halves:

1. ``check_action`` (of the node an action runs on: the app for ``app.guest(...)``, the USB
   screen for ``attach``) returns :func:`check_state`, ``None`` for a refused action: the footer
   greys it (``FooterKey.-disabled``, dim), and a mouse click on it rings the bell.
2. ``App.run_action`` is overridden to call :func:`intercept` first. Key presses (every binding
   goes through ``run_action``), the palette and ``app.run_action`` calls reach it; for a refused
   action it calls :func:`refuse`, which notifies with the reason and writes an event-log line,
   and reports the key as handled.

:func:`refuse` is also what each mutating action calls first (a handler can be called directly,
for example from a confirmation callback), so the rule holds however an action is reached.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.app import ScreenStackError
from textual.binding import Binding, BindingType

from tui.registry import (
    ACTIONS,
    BY_ID,
    GROUPS,
    PRIORITY_IDS,
    SCOPES,
    Action,
    check,
    key_label,
    keys_for,
    mutating_action,
    parse_action,
    scope_actions,
    validate_keymap,
)

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode
    from textual.notifications import SeverityLevel
    from textual.screen import Screen


class Teller(Protocol):
    """What a refusal needs of the app: the read-only flag, a notification, the event log
    (kvmdeck's app; a test's app provides the same three)."""

    @property
    def readonly(self) -> bool: ...

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def log_event(self, text: str) -> None: ...


@runtime_checkable
class Refusing(Protocol):
    """A screen that refuses some keys for its current state (the main screen)."""

    def refusal(self, name: str, params: tuple[object, ...]) -> tuple[str, str] | None: ...


__all__ = [
    "ACTIONS",
    "BY_ID",
    "SCOPES",
    "Action",
    "HelpRow",
    "bindings",
    "check",
    "check_state",
    "help_rows",
    "intercept",
    "keys_hint",
    "palette_entries",
    "refuse",
    "say_refused",
    "validate_keymap",
]

log = logging.getLogger(__name__)


def bindings(scope: str) -> list[BindingType]:
    """The ``BINDINGS`` of ``scope``'s screen (``"global"``: the app's), in footer order.

    Every binding carries its registry id, so ``[keymap]`` (``App.set_keymap``) rebinds it.
    Screens also get the shared keys (``?`` help) first, so the footer starts with them.
    """
    if scope not in SCOPES:
        raise KeyError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
    out: list[BindingType] = []
    for a in scope_actions(scope):
        out.append(
            Binding(
                ",".join(a.keys),
                a.action,
                a.footer_label,
                show=a.show,
                id=a.id,
                tooltip=a.description or a.title,
                # The palette binding replaces Textual's own (so [keymap] can rebind it) and,
                # like it, reaches modal screens; Ctrl+C quits even from the filter box.
                priority=a.id in PRIORITY_IDS,
            )
        )
    return out


def keys_hint(action: Action, keymap: Mapping[str, str] | None = None) -> str:
    """``s``, ``Esc q``: the keys of an action as people write them."""
    return " ".join(key_label(k) for k in keys_for(action, keymap))


# -- palette --------------------------------------------------------------------------------
def palette_entries(
    readonly: bool,
    keymap: Mapping[str, str] | None = None,
    scopes: tuple[str, ...] = ("global", "main"),
) -> list[tuple[str, str, str]]:
    """(title with key hint, action id, help) for the command palette, e.g.
    ``("Start guest  (s)", "guest.start", "start the selected guest")``.

    ``scopes``: the screens whose actions can run where the palette was opened (the main
    screen's by default). An action refused now has ``(read-only)`` in its title and the
    reason as its help.
    """
    out = []
    for a in ACTIONS:
        if a.scope not in scopes or a.id == "palette":
            continue
        hint = keys_hint(a, keymap)
        title = f"{a.title}  ({hint})" if hint else a.title
        reason = check(a.id, readonly)
        if reason:
            out.append((f"{title}  (read-only)", a.id, reason))
        else:
            out.append((title, a.id, a.description or a.title))
    return out


# -- help -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HelpRow:
    keys: str  # "Esc q"
    title: str
    where: str  # "" on the main screen and everywhere, else the screen ("viewers")
    id: str
    refused: str | None = None  # the read-only reason, when refused now


def help_rows(
    scope: str | None = None,
    keymap: Mapping[str, str] | None = None,
    readonly: bool = False,
) -> list[tuple[str, list[HelpRow]]]:
    """The help screen's sections: (group, rows), every kvmdeck action once.

    ``scope``: the screen help was opened on; its sections come first. ``keymap``: keys shown
    as rebound. ``readonly``: refused actions carry the reason.
    """
    sections: dict[str, list[HelpRow]] = {g: [] for g in GROUPS}
    for a in ACTIONS:
        where = "" if a.scope in ("global", "main") else SCOPES[a.scope]
        row = HelpRow(keys_hint(a, keymap), a.title, where, a.id, check(a.id, readonly))
        sections.setdefault(a.group, []).append(row)
    here = {a.group for a in ACTIONS if a.scope == scope}
    order = sorted(
        (g for g, rows in sections.items() if rows),
        key=lambda g: (g not in here, GROUPS.index(g) if g in GROUPS else len(GROUPS)),
    )
    return [(g, sections[g]) for g in order]


# -- read-only gating -----------------------------------------------------------------------
def check_state(action: str, parameters: tuple[object, ...], readonly: bool) -> bool | None:
    """For ``check_action(action, parameters)``: ``None`` (key greyed) when the registry
    refuses the action now, else ``True``."""
    found = mutating_action(action, parameters)
    if found is not None and check(found.id, readonly) is not None:
        return None
    return True


def refuse(app: Teller, action_id: str) -> bool:
    """Call first in every mutating action: True when ``action_id`` may not run now, after
    telling why (a notification and an event-log line). False: go ahead."""
    reason = check(action_id, app.readonly)
    if reason is None:
        return False
    say_refused(app, action_id, reason)
    return True


def say_refused(app: Teller, action_id: str, reason: str) -> None:
    """Why ``action_id`` did not run: a notification (plain text) and an event-log line."""
    app.notify(reason, title=BY_ID[action_id].title, severity="warning", markup=False)
    app.log_event(f"refused {action_id}: {reason}")
    log.info("refused %s: %s", action_id, reason)


def top_screen(app: App[int]) -> Screen[object] | None:
    """The screen on top, None before the first."""
    try:
        return app.screen
    except ScreenStackError:
        return None


def intercept(app: Teller, screen: Screen[object] | None, action: str) -> bool:
    """For an ``App.run_action`` override: True when ``action`` (an action string such as
    ``app.guest('start')``) is refused now, after saying why. False: run it.

    Refused are the registry's read-only refusals (:func:`refuse`) and what ``screen`` (the
    one on top, None before the first) refuses for its current state: a :class:`Refusing`
    screen defines ``refusal(name, parameters)`` returning ``(action id, reason)`` or None
    (the main screen: "web is already running").
    Such a screen's ``check_action`` greys the same keys, which Textual would drop silently.
    """
    try:
        name, params = parse_action(action)
    except (ValueError, SyntaxError):
        return False
    found = mutating_action(name, params)
    if found is not None and refuse(app, found.id):
        return True
    if not isinstance(screen, Refusing):
        return False
    refused = screen.refusal(name, params)
    if refused is None:
        return False
    action_id, reason = refused
    say_refused(app, action_id, reason)
    return True


def scope_of(screen: DOMNode | type[DOMNode]) -> str | None:
    """The registry scope of a screen, from the ids of its ``BINDINGS`` (None: not known)."""
    cls = screen if isinstance(screen, type) else type(screen)
    for b in cls.BINDINGS:
        bid = b.id if isinstance(b, Binding) else None
        if bid is not None and bid in BY_ID and BY_ID[bid].scope != "global":
            return BY_ID[bid].scope
    return None
