"""The fleet's actions (issue 23) as registry data: sort by host, marks and bulk actions, the
hosts screen. :mod:`tui.registry` builds them into ``ACTIONS`` (this module imports nothing
of it: the registry passes its ``Action`` class in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (id, keys, title, scope, action string, the rest of Action's fields)
FLEET: tuple[tuple[str, tuple[str, ...], str, str, str, dict[str, Any]], ...] = (
    ("sort.host", ("O",), "Sort by host", "main", "sort('host')",
     {"show": False, "priority": 64, "group": "View",
      "description": "sort by host, then name; again reverses"}),
    ("mark.toggle", ("space",), "Mark / unmark guest", "main", "mark",
     {"show": False, "priority": 8, "group": "Guests",
      "description": "mark or unmark the selected guest and move down; s h r p X then act on"
      " every marked guest"}),
    ("mark.all", ("A",), "Mark all shown guests", "main", "mark_all",
     {"show": False, "priority": 9, "group": "Guests",
      "description": "mark every guest shown; again unmarks them"}),
    ("mark.clear", ("U",), "Unmark all guests", "main", "unmark_all",
     {"show": False, "priority": 9, "group": "Guests", "description": "unmark every guest"}),
    ("guest.snapshot_marked", ("Z",), "Snapshot the marked guests", "main", "snapshot_marked",
     {"mutating": True, "confirm": True, "show": False, "priority": 24, "group": "Guests",
      "description": "take a disk snapshot of every marked guest (or the selected one), asks"
      " first", "refusal": "take snapshots"}),
    ("hosts", ("H",), "Hosts: state, causes, reconnect", "main", "hosts",
     {"show": False, "priority": 45, "group": "View", "label": "Hosts",
      "description": "hosts: one line each (state and cause, guests, CPU, memory, poll"
      " latency, USB source); reconnect one, or show only its guests"}),
    ("hosts.back", ("escape", "q"), "Back to the guest list", "hosts", "app.pop_screen",
     {"priority": 1, "group": "Dialogs", "label": "Back",
      "description": "back to the guest list"}),
    ("hosts.reconnect", ("r",), "Reconnect the selected host now", "hosts", "reconnect",
     {"priority": 10, "group": "View", "label": "Reconnect",
      "description": "try the selected host again now instead of at the end of its backoff"}),
    ("hosts.only", ("g",), "Show only this host's guests", "hosts", "only",
     {"priority": 11, "group": "View", "label": "Its guests",
      "description": "back to the guest list showing only the selected host's guests"
      " (a host: filter; Enter too)"}),
)  # fmt: skip


def fleet_actions(make: Callable[..., Any]) -> tuple[Any, ...]:
    """The fleet's actions, made with the registry's ``Action``."""
    return tuple(make(i, k, t, sc, a, **kw) for i, k, t, sc, a, kw in FLEET)
