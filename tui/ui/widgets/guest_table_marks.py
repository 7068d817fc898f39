"""Marks for bulk actions (issue 23): the guest table's view state, keyed by ``GuestKey``
(Space marks and moves down, as htop and k9s do; ``A`` marks every guest shown). A mixin of
:class:`~tui.ui.widgets.guest_table.GuestTable`: it reads the table's rows and repaints the
rows whose mark changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text

from tui.model.ids import GuestKey

if TYPE_CHECKING:
    from tui.model.fleet import Guest
    from tui.ui.widgets.guest_table import GuestTable


MARK = ("▶", "bold yellow")  # before the name of a marked guest


class GuestMarks:
    marks: set[GuestKey]

    def with_mark(self, key: GuestKey, name: Text, width: int) -> Text:
        """The name cell, with the mark before it when the guest is marked."""
        if key not in self.marks:
            return name
        out = Text.assemble((MARK[0] + " ", MARK[1]), name)
        out.stylize("bold")
        out.truncate(width, overflow="ellipsis")
        return out

    # -- marks (bulk actions) ------------------------------------------------------------
    def _remark(self: GuestTable, keys: Iterable[GuestKey]) -> None:  # type: ignore[misc]
        """Repaint the rows whose mark changed."""
        changed = []
        for key in keys:
            entry = self._rows.get(key.row)
            if entry is None:
                continue
            entry.dirty = True
            if self.has_row(key.row):
                index = self.get_row_index(key.row)
                if self._render_entry(key.row, entry):
                    changed.append(index)
        self.refresh_rows(changed)

    def toggle_mark(self: GuestTable) -> GuestKey | None:  # type: ignore[misc]
        """Space: mark or unmark the selected guest, then move down (htop, k9s)."""
        key = self.selected_key()
        if key is None:
            return None
        self.marks.symmetric_difference_update({key})
        self._remark([key])
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(self.cursor_row + 1)
            self._chose()
        return key

    def shown_keys(self: GuestTable) -> list[GuestKey]:  # type: ignore[misc]
        """The guests the filter lets through, in their order."""
        return [GuestKey.parse_row(r) for r in self.rows]

    def mark_all(self: GuestTable) -> int:  # type: ignore[misc]
        """Mark every guest shown; when all are marked already, unmark them. The count marked."""
        shown = self.shown_keys()
        if shown and all(k in self.marks for k in shown):
            self.marks.difference_update(shown)
        else:
            self.marks.update(shown)
        self._remark(shown)
        return len(self.marks)

    def clear_marks(self: GuestTable) -> None:  # type: ignore[misc]
        old, self.marks = self.marks, set()
        self._remark(old)

    def marked(self: GuestTable) -> list[Guest]:  # type: ignore[misc]
        """The marked guests still in the fleet, in table order (then the filtered-out ones)."""
        order = {r: i for i, r in enumerate(self.rows)}
        out = [g for k in self.marks if (g := self.fleet.guest(k)) is not None]
        return sorted(out, key=lambda g: (order.get(g.key.row, len(order)), g.name, g.key.row))
