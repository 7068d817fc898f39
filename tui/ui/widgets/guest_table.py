"""The guest table: renders the fleet's guests. Keyed rows, fixed-width columns, and only
changed cells are written. It holds no canonical state: the fleet does; it keeps render caches
and view state (column layout, sort, filter, the row the user chose).

Columns have priorities: as the table narrows, low-priority columns go or merge (see
:data:`SHRINK`), so at 80 columns Name, State, CPU%, Mem, Disk and Net all show. The layout is
recomputed on resize; the libvirt stat groups asked for follow the visible columns
(:attr:`GuestTable.stat_columns`). The Name column stays put when scrolling sideways.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from tui.model.addresses import summary as address_summary
from tui.model.fleet import Change, Fleet, Guest
from tui.model.guest import GuestSample
from tui.model.ids import GuestKey
from tui.ui.compat import CachedDataTable
from tui.ui.widgets.guest_columns import (
    SORT_FIELDS,
    SORT_MARK,
    SORTS,
    STATE_STYLE,
    USB_MARK,
    VIEWER_MARK,
    WIDE,
    Column,
    Shown,
    justify,
    layout,
)


class GuestTable(CachedDataTable):
    """Rows keyed by :attr:`GuestKey.row`; the data comes from the fleet.

    The cursor stays on the top row until the user picks a row (keys, mouse, the palette);
    from then on it follows that guest through sorts, filters and relayouts. The selected row
    is kept on screen (a mouse-wheel scroll brings the cursor along).
    """

    DEFAULT_CSS = """
    GuestTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("home", "first_guest", "First guest", show=False, id="guest.first"),
        Binding("end", "last_guest", "Last guest", show=False, id="guest.last"),
    ]

    class LayoutChanged(Message):
        """The visible columns changed (so may the stat groups the polls ask for)."""

    def __init__(self, show_host: bool = False, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=1, **kw)
        self.show_host = show_host
        self.shown: tuple[Shown, ...] = layout(WIDE, show_host)
        self._built = False
        self.fleet = Fleet()  # the app's store, set on the first sync
        self._cells: dict[str, tuple[Text, ...]] = {}
        self.sort_key = "name"  # a field of SORT_FIELDS
        self.sort_reverse = False
        self.name_filter = ""
        self.viewers: frozenset[str] = frozenset()  # names of guests with a viewer open
        self._chosen: str | None = None  # the row the user picked; None: the top row
        self.cell_writes = 0  # for tests and the bench: how many cells were actually written
        self.relayouts = 0

    # -- layout --------------------------------------------------------------------------
    @property
    def columns_shown(self) -> tuple[Column, ...]:
        return tuple(s.column for s in self.shown)

    @property
    def stat_columns(self) -> tuple[str, ...]:
        """The libvirt stat groups the visible columns need."""
        return tuple(sorted({s.column.group for s in self.shown if s.column.group}))

    def on_mount(self) -> None:
        if self.size.width:
            self.relayout(self.size.width)
        if not self._built:
            self._build()

    def on_resize(self, event: events.Resize) -> None:
        self.relayout(event.size.width)
        self.call_after_refresh(self.show_cursor_row)  # a shorter table keeps the row in view

    def relayout(self, width: int) -> bool:
        """Lay the columns out for ``width`` cells (a vertical scrollbar's room kept free).
        True when the columns changed (rows are rebuilt, the selection kept)."""
        room = width - self.styles.scrollbar_size_vertical
        shown = layout(room, self.show_host)
        if shown == self.shown and self._built:
            return False
        self.shown = shown
        self._build()
        self.relayouts += 1
        self.post_message(self.LayoutChanged())
        return True

    def _build(self) -> None:
        keep = self.selected_row()
        self.clear(columns=True)
        self._cells.clear()
        for s in self.shown:
            self.add_column(Text(s.label, justify=justify(s)), width=s.width, key=s.key)
        self._built = True
        if self.fleet.hosts:
            self.sync(self.fleet, Change(hosts=frozenset(self.fleet.hosts)))
        else:
            self.apply_sort()
        self._restore_cursor(keep)

    # -- selection -----------------------------------------------------------------------
    def selected_row(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except (CellDoesNotExist, RowDoesNotExist):
            return None

    def selected_key(self) -> GuestKey | None:
        row = self.selected_row()
        return GuestKey.parse_row(row) if row is not None else None

    @property
    def samples(self) -> dict[str, GuestSample]:
        """Row key -> sample of every guest in the fleet (derived; tests and the bench)."""
        return {g.key.row: g.sample for g in self.fleet.guests()}

    def selected_guest(self) -> Guest | None:
        key = self.selected_key()
        return self.fleet.guest(key) if key is not None else None

    def selected_sample(self) -> GuestSample | None:
        g = self.selected_guest()
        return g.sample if g is not None else None

    def _chose(self) -> None:
        self._chosen = self.selected_row()

    def select_row(self, row: str) -> None:
        """Select a guest's row (the palette's "go to guest"): the cursor follows it."""
        try:
            index = self.get_row_index(row)
        except RowDoesNotExist:
            return
        self._chosen = row
        self.move_cursor(row=index, animate=False)

    def _restore_cursor(self, keep: str | None) -> None:
        """After rows moved: the top row until the user chose one, else the chosen row (or,
        while that one is filtered out, the row the cursor was on)."""
        if self.row_count == 0:
            return
        target = 0
        if self._chosen is not None:
            for row in (self._chosen, keep):
                if row is not None and row in self._cells:
                    target = self.get_row_index(row)
                    break
            else:
                target = min(self.cursor_row, self.row_count - 1)
        self.move_cursor(row=target, animate=False)

    def visible_rows(self) -> range:
        """Row indexes on screen now (where the table is scrolled to)."""
        height = self.scrollable_content_region.height - (
            self.header_height if self.show_header else 0
        )
        first = int(self.scroll_target_y)
        return range(first, min(self.row_count, first + max(0, height)))

    def cursor_visible(self) -> bool:
        return self.row_count > 0 and self.cursor_row in self.visible_rows()

    def show_cursor_row(self) -> None:
        """Scroll the selected row into view."""
        if self.row_count:
            self.move_cursor(row=self.cursor_row, animate=False)

    def _cursor_into_view(self) -> None:
        """A scroll that left the cursor off screen (mouse wheel) brings the cursor along."""
        rows = self.visible_rows()
        if not self.row_count or not rows or self.cursor_row in rows:
            return
        row = rows.start if self.cursor_row < rows.start else rows.stop - 1
        self.move_cursor(row=row, scroll=False)
        self._chose()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.is_mounted:
            self.call_after_refresh(self._cursor_into_view)

    # The user's cursor moves: remember the row, so sorts and refreshes keep it.
    def action_cursor_up(self) -> None:
        super().action_cursor_up()
        self._chose()

    def action_cursor_down(self) -> None:
        super().action_cursor_down()
        self._chose()

    def action_page_up(self) -> None:
        super().action_page_up()
        self._chose()

    def action_page_down(self) -> None:
        super().action_page_down()
        self._chose()

    def action_first_guest(self) -> None:
        """Home: the first guest."""
        self.action_scroll_top()
        self._chose()

    def action_last_guest(self) -> None:
        """End: the last guest."""
        self.action_scroll_bottom()
        self._chose()

    async def _on_click(self, event: events.Click) -> None:
        await super()._on_click(event)
        self._chose()

    # -- rendering -----------------------------------------------------------------------
    def _name_cell(self, g: Guest, width: int) -> Text:
        marks = []
        if g.info is not None and g.info.usb_hostdevs:
            marks.append(USB_MARK)
        if g.name in self.viewers:
            marks.append(VIEWER_MARK)
        name = Text(g.name, overflow="ellipsis", no_wrap=True)  # plain text, never markup
        if not marks:
            return name
        tail = Text.assemble(*((" " + mark, style) for mark, style in marks))
        name.truncate(max(1, width - tail.cell_len), overflow="ellipsis", pad=True)
        name.append_text(tail)
        return name

    def _render_row(self, g: Guest, label: str, stale: float | None) -> tuple[Text, ...]:
        s = g.sample
        out: list[Text] = []
        for shown in self.shown:
            col = shown.column
            if col.key == "name":
                cell = self._name_cell(g, shown.width)
            elif col.key == "ip":
                cell = Text(address_summary(g.addresses) if g.sample.active else "")
            elif col.key == "state" and g.pending:
                cell = Text(g.pending, style=STATE_STYLE.get(g.pending, "yellow"))
            else:
                value = col.render(s, g.history, label)
                if col.compact is not None and len(str(value)) > shown.width:
                    value = col.compact(s)
                cell = value if isinstance(value, Text) else Text(value)
            cell.justify = justify(shown)
            cell.overflow = "ellipsis"
            cell.no_wrap = True
            if stale is not None or g.error:
                # A reconnecting host's figures are frozen: say so and dim them. Odd XML: say so.
                if col.key == "state":
                    note = f"stale {stale:.0f}s" if stale is not None else "XML unreadable"
                    cell = Text(note, style="bold yellow" if stale is not None else "bold red")
                elif stale is not None:
                    cell.stylize("dim")
            out.append(cell)
        return tuple(out)

    def _visible(self, s: GuestSample) -> bool:
        return not self.name_filter or self.name_filter.lower() in s.name.lower()

    def sync(self, fleet: Fleet, change: Change) -> None:
        """Apply a change of the fleet: add, update (changed cells only) and remove rows."""
        self.fleet = fleet
        if not self._built:
            self._build()
            return  # _build synced every host
        keep = self.selected_row()
        structure_changed = False
        writes: dict[str, list[tuple[str, str | Text]]] = {}
        for key in change.removed:
            structure_changed |= self._drop(key.row)
        for host_id in change.hosts:
            host = fleet.hosts.get(host_id)
            if host is None:
                continue
            stale = host.stale_for()
            for g in host.guests.values():
                row = g.key.row
                if not self._visible(g.sample):
                    structure_changed |= self._drop(row)
                    continue
                cells = self._render_row(g, host.label, stale)
                old = self._cells.get(row)
                if old is None:
                    self.add_row(*cells, key=row)
                    self.cell_writes += len(cells)
                    structure_changed = True
                else:
                    kept = list(old)
                    for i, (shown, new, prev) in enumerate(
                        zip(self.shown, cells, old, strict=True)
                    ):
                        if new != prev:
                            writes.setdefault(row, []).append((shown.key, new))
                            self.cell_writes += 1
                            kept[i] = new
                    # Keep the objects the table holds: unchanged cells cost nothing to paint,
                    # and apply_sort finds rows by their name cell.
                    cells = tuple(kept)
                self._cells[row] = cells
        self.write_cells(writes)
        if structure_changed or (writes and self.sort_key != "name"):
            self.apply_sort(keep)

    def _drop(self, row: str) -> bool:
        if self._cells.pop(row, None) is None:
            return False
        self.remove_row(row)
        return True

    def set_viewers(self, names: Iterable[str]) -> None:
        """The guests with a viewer open (their rows get a marker)."""
        new = frozenset(names)
        if new == self.viewers:
            return
        self.viewers = new
        if self._built and self.fleet.hosts:
            self.sync(self.fleet, Change(hosts=frozenset(self.fleet.hosts)))

    # -- sorting -------------------------------------------------------------------------
    def set_sort(self, what: str) -> None:
        """Sort by a field; choosing the same field again reverses the order (virt-top's way)."""
        field = SORTS.get(what, what)
        if field == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key = field
            self.sort_reverse = field != "name"  # busiest first
        self.apply_sort()

    def sort_column(self) -> str | None:
        """The key of the visible column that carries the sort marker."""
        for s in self.shown:
            if s.column.field == self.sort_key:
                return s.key
        return None

    def _set_header_labels(self) -> None:
        marked = self.sort_column()
        for s in self.shown:
            label = s.label + (SORT_MARK[self.sort_reverse] if s.key == marked else "")
            column = self.columns.get(ColumnKey(s.key))
            if column is not None and column.label.plain != label:
                column.label = Text(label, justify=justify(s))

    def apply_sort(self, keep: str | None = None) -> None:
        """Order the rows by the sort field (ties by name, then row key: a stable order), put
        the marker on its column, and put the cursor back (see :meth:`_restore_cursor`)."""
        keep = keep if keep is not None else self.selected_row()
        self._set_header_labels()
        sorter = SORT_FIELDS[self.sort_key]
        # DataTable.sort hands the key function the row's cells, not its key. The name cell
        # is a Text object unique to its row, so its identity leads back to the row key.
        by_cell = {id(cells[0]): row for row, cells in self._cells.items()}
        fleet = self.fleet
        reverse = self.sort_reverse

        def order(cells: tuple[object, ...]) -> tuple[float | str, str, str]:
            row = by_cell.get(id(cells[0]), "")
            g = fleet.guest(GuestKey.parse_row(row)) if row else None
            if g is None:
                return (-1.0, "", row)
            value = sorter(g.sample)
            if reverse and isinstance(value, float | int):
                value = -value  # descending, while equal keys stay in name order
            return (value, g.name, row)

        numeric = self.sort_key != "name"
        self.sort(key=order, reverse=reverse and not numeric)  # also repaints the header
        self._restore_cursor(keep)

    def set_filter(self, text: str) -> None:
        """Filter rows by name (``/``). Rows re-appear when the filter is cleared."""
        self.name_filter = text
        self.sync(self.fleet, Change(hosts=frozenset(self.fleet.hosts)))
