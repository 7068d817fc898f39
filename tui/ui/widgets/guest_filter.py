"""The guest filter's words: a name part and ``host:`` parts (issue 23). Pure functions."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tui.model.ids import HostId

if TYPE_CHECKING:
    from tui.ui.widgets.guest_table import GuestTable

HOST_PREFIX = "host:"


def parse_filter(text: str, labels: Mapping[HostId, str]) -> tuple[str, set[HostId]]:
    """(name needle in lower case, the hosts shown) of a filter: ``host:kvm1 web`` is the
    guests of host ``kvm1`` whose name holds ``web``; ``host:"lab a"`` quotes a label with
    spaces. ``labels``: every host's label."""
    needle, hosts = split_filter(text)
    if not hosts:
        return needle, set(labels)
    every = labels.values()
    return needle, {h for h, label in labels.items() if host_matches(label, hosts, every)}


def split_filter(text: str) -> tuple[str, tuple[str, ...]]:
    """(name needle, host needles) of a filter, in lower case."""
    try:
        words = shlex.split(text)
    except ValueError:  # an open quote while typing
        words = text.split()
    hosts = tuple(w[len(HOST_PREFIX) :].lower() for w in words if w.lower().startswith(HOST_PREFIX))
    rest = [w for w in words if not w.lower().startswith(HOST_PREFIX)]
    return " ".join(rest).lower(), tuple(h for h in hosts if h)


def host_matches(label: str, needles: tuple[str, ...], labels: Iterable[str]) -> bool:
    """A host filter: a needle equal to a label picks that host only (``host:h1`` is not
    ``h10``); else a part of the label matches."""
    low = label.lower()
    exact = {x.lower() for x in labels}
    return any(low == n if n in exact else n in low for n in needles)


class GuestFilter:
    """The guest table's filter (a mixin): keys queued together are filtered once."""

    name_filter: str
    _filter_due: bool
    _applied_filter: str

    def set_filter(self: GuestTable, text: str, now: bool = False) -> None:  # type: ignore[misc]
        """Filter rows by name and host (``/``). Keys that arrive together are applied once: the filter
        runs after the keys already queued, never later than that (``now``: at once)."""
        if text == self.name_filter and not self._filter_due:
            return
        if not text and self.name_filter:  # cleared: the keys typed so far first, then keep
            self._apply_filter()  # the guest the filter left the cursor on (Esc, as in htop)
            self._chosen = self.selected_row() or self._chosen
        self.name_filter = text
        if now:
            self._apply_filter()
        elif not self._filter_due:
            self._filter_due = True
            self.call_later(self._apply_filter)

    def _apply_filter(self: GuestTable) -> None:  # type: ignore[misc]
        if self._filter_due or self._applied_filter != self.name_filter:
            self._filter_due = False
            self._applied_filter = self.name_filter
            self.apply_sort()
