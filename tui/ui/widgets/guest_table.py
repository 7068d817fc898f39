"""The guest table: renders the fleet's guests. It holds no canonical state: the fleet does;
it keeps render caches and view state (column layout, sort, filter, the row the user chose).

Filtering and sorting work on the store: the rows shown are one list of row keys from the
fleet's samples (a name match, one ``sorted``), never a rebuild of table rows. Cells are made
for the rows on screen only, when what they show changed (the row's *inputs*). Underneath is a
line-API widget (:mod:`tui.ui.widgets.guest_table_lines`). Columns go or merge as the table
narrows (:data:`SHRINK`); the stat groups asked for follow the visible columns
(:attr:`GuestTable.stat_columns`). The Name column stays put when scrolling sideways.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message

from tui.model.addresses import summary as address_summary
from tui.model.fleet import Change, Fleet, Guest
from tui.model.guest import GuestSample
from tui.model.ids import GuestKey, HostId
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
from tui.ui.widgets.guest_filter import GuestFilter, parse_filter
from tui.ui.widgets.guest_table_lines import LineColumn, LineTable
from tui.ui.widgets.guest_table_marks import GuestMarks
from tui.util import DASH, terminal_safe

HISTORY_CELLS = 12  # the CPU history column's width: the history a row's cells depend on


@dataclass(slots=True)
class _Row:
    """A guest's render cache: where it is in the fleet, and its cells once rendered."""

    host: HostId
    uuid: str
    label: str = ""  # the host's label (the Host column)
    stale: str | None = None  # "12" while the host reconnects: "stale 12s"
    dirty: bool = True  # the fleet changed since ``inputs`` were taken
    inputs: tuple[object, ...] | None = None
    cells: tuple[Text, ...] | None = None


def _same(old: Text, new: Text) -> Text:
    """``old`` when ``new`` looks the same (Text's == leaves out the base style)."""
    return old if old == new and old.style == new.style else new


class GuestTable(GuestMarks, GuestFilter, LineTable):
    """Rows keyed by :attr:`GuestKey.row`; the data comes from the fleet.

    The cursor stays on the top row until the user picks a row (keys, mouse, the palette, a
    filter); then it follows that guest through sorts, filters and relayouts, kept on screen."""

    DEFAULT_CSS = "GuestTable { height: 1fr; }"
    BINDINGS = [
        Binding("home", "first_guest", "First guest", show=False, id="guest.first"),
        Binding("end", "last_guest", "Last guest", show=False, id="guest.last"),
    ]

    class LayoutChanged(Message):
        """The visible columns changed (so may the stat groups the polls ask for)."""

    def __init__(self, show_host: bool = False, **kw: object) -> None:
        super().__init__(**kw)
        self.show_host = show_host
        self.shown: tuple[Shown, ...] = layout(WIDE, show_host)
        self._built = False
        self.fleet = Fleet()  # the app's store, set on the first sync
        self._rows: dict[str, _Row] = {}  # every guest of the fleet, shown or filtered out
        self._host_rows: dict[HostId, set[str]] = {}  # a host's rows: its sync is O(its guests)
        self.sort_key = "name"  # a field of SORT_FIELDS
        self.sort_reverse = False
        self.name_filter = ""
        self._filter_due = False  # a filter change waits for this turn's other keys
        self._applied_filter = ""
        self.viewers: frozenset[str] = frozenset()  # names of guests with a viewer open
        self.marks: set[GuestKey] = set()  # marked guests (bulk actions): view state
        self._chosen: str | None = None  # the row the user picked; None: the top row
        self.row_renders = 0  # rows whose cells were computed (tests and the bench)
        self.cell_writes = 0  # cells that changed
        self.relayouts = 0

    # -- layout --------------------------------------------------------------------------
    @property
    def columns_shown(self) -> tuple[Column, ...]:
        return tuple(s.column for s in self.shown)

    @property
    def column_keys(self) -> list[str]:
        return [s.key for s in self.shown]

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
        True when the columns changed (cells are rendered again, the selection kept)."""
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
        self.set_columns([LineColumn(s.key, self._label(s, None), s.width) for s in self.shown])
        self._built = True
        for entry in self._rows.values():
            entry.cells = entry.inputs = None
        if self.fleet.hosts:
            self.sync(self.fleet, Change(hosts=frozenset(self.fleet.hosts)))
        self.apply_sort()

    # -- selection -----------------------------------------------------------------------
    def selected_row(self) -> str | None:
        return self.row_at(self.cursor_row)

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
        """Select a guest's row (the palette's "go to guest"): the cursor follows it. A guest
        the fleet has but the table has not painted yet gets the cursor when its row comes."""
        self._chosen = row
        if self.has_row(row):
            self.move_cursor(self.get_row_index(row))

    def _cursor_for(self, rows: list[str], keep: str | None) -> int:
        """Where the cursor goes in ``rows``: the top row until the user chose one, else the
        chosen row (or, while that one is filtered out, the row the cursor was on)."""
        if self._chosen is None or not rows:
            return 0
        for row in (self._chosen, keep):
            if row is not None and row in rows:
                return rows.index(row)
        return min(self.cursor_row, len(rows) - 1)

    def cursor_visible(self) -> bool:
        return self.row_count > 0 and self.cursor_row in self.visible_rows()

    def show_cursor_row(self) -> None:
        """Scroll the selected row into view."""
        if self.row_count:
            self.scroll_to_row(self.cursor_row)

    def _cursor_into_view(self) -> None:
        """A scroll that left the cursor off screen (mouse wheel) brings the cursor along."""
        rows = self.visible_rows()
        if not self.row_count or not rows or self.cursor_row in rows:
            return
        row = rows.start if self.cursor_row < rows.start else rows.stop - 1
        self.move_cursor(row, scroll=False)
        self._chose()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.is_mounted:
            self.call_after_refresh(self._cursor_into_view)

    def user_moved(self) -> None:
        """The user moved the cursor: remember the row, so sorts and refreshes keep it."""
        self._chose()

    def action_first_guest(self) -> None:
        """Home: the first guest."""
        self.action_cursor_top()

    def action_last_guest(self) -> None:
        """End: the last guest."""
        self.action_cursor_bottom()

    # -- cells ---------------------------------------------------------------------------
    def row_cells(self, row: str) -> Sequence[Text]:
        entry = self._rows.get(row)
        if entry is None:
            return [Text() for _ in self.shown]
        if entry.dirty or entry.cells is None:
            self._render_entry(row, entry)
        return entry.cells or ()

    def get_cell(self, row: str, column: str) -> Text:
        """The cell of a row (rendered now if it was not on screen): tests, the bench."""
        return self.row_cells(row)[self.column_keys.index(column)]

    def get_row_at(self, index: int) -> list[Text]:
        row = self.row_at(index)
        return list(self.row_cells(row)) if row is not None else []

    def header_labels(self) -> dict[str, Text]:
        return {c.key: c.label for c in self.columns}

    def _inputs(self, g: Guest, entry: _Row) -> tuple[object, ...]:
        """Everything a row's cells are rendered from: equal inputs, equal cells."""
        keys = self.column_keys
        s = g.sample
        history = None
        if "cpuhist" in keys and s.active:
            cpu = g.history.cpu
            history = tuple(cpu)[-HISTORY_CELLS:] if cpu else ()
        return (
            s,
            history,
            g.info is not None and bool(g.info.usb_hostdevs),
            g.name in self.viewers,
            g.pending,
            g.error,
            entry.stale,
            entry.label if "host" in keys else "",
            g.addresses if "ip" in keys else (),
            g.key in self.marks,
        )

    def _render_entry(self, row: str, entry: _Row) -> bool:
        """Bring a row's cells up to date with the fleet. True when a cell changed."""
        entry.dirty = False
        host = self.fleet.hosts.get(entry.host)
        g = host.guests.get(entry.uuid) if host is not None else None
        if g is None:
            return False
        inputs = self._inputs(g, entry)
        if entry.cells is not None and inputs == entry.inputs:
            return False
        cells = self._render_row(g, entry.label, entry.stale)
        self.row_renders += 1
        old = entry.cells
        if old is not None and len(old) == len(cells):
            # Keep the objects of unchanged cells: a changed object is what repaints a line.
            cells = tuple(_same(o, n) for o, n in zip(old, cells, strict=True))
            self.cell_writes += sum(1 for o, n in zip(old, cells, strict=True) if o is not n)
        else:
            self.cell_writes += len(cells)
        entry.inputs, entry.cells = inputs, cells
        if old is None or any(o is not n for o, n in zip(old, cells, strict=True)):
            self.bump_row(row)
            return True
        return False

    def _name_cell(self, g: Guest, width: int) -> Text:
        return self.with_mark(g.key, self._name_marks(g, width), width)

    def _name_marks(self, g: Guest, width: int) -> Text:
        marks = []
        if g.info is not None and g.info.usb_hostdevs:
            marks.append(USB_MARK)
        if g.name in self.viewers:
            marks.append(VIEWER_MARK)
        name = Text(terminal_safe(g.name), overflow="ellipsis", no_wrap=True)  # plain, no markup
        if not marks:
            return name
        tail = Text.assemble(*((" " + mark, style) for mark, style in marks))
        name.truncate(max(1, width - tail.cell_len), overflow="ellipsis", pad=True)
        name.append_text(tail)
        return name

    def _render_row(self, g: Guest, label: str, stale: str | None) -> tuple[Text, ...]:
        s = g.sample
        out: list[Text] = []
        for shown in self.shown:
            col = shown.column
            if col.key == "name":
                cell = self._name_cell(g, shown.width)
            elif col.key == "ip":
                ips = address_summary(g.addresses) if g.sample.active else ""
                cell = Text(terminal_safe(ips) or DASH)  # none known: the dash, as elsewhere
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
                    note = f"stale {stale}s" if stale is not None else "XML unreadable"
                    cell = Text(note, style="bold yellow" if stale is not None else "bold red")
                elif stale is not None:
                    cell.stylize("dim")
            out.append(cell)
        return tuple(out)

    # -- the fleet -----------------------------------------------------------------------
    def sync(self, fleet: Fleet, change: Change) -> None:
        """Apply a change of the fleet: the rows shown, their order, the cells on screen."""
        self.fleet = fleet
        if not self._built:
            self._build()
            return  # _build synced every host
        members = False
        for key in change.removed:
            members |= self._drop_row(key.row)
        hosts = change.hosts
        if change.polled and "cpuhist" in self.column_keys:  # a new history point to show
            hosts |= change.polled
        for host_id in hosts:
            members |= self._sync_host(fleet, host_id)
        if members or change.changed or change.added:
            self.apply_sort()
        changed = []
        for index in self.visible_rows():
            row = self.rows[index]
            entry = self._rows[row]
            if entry.dirty and self._render_entry(row, entry):
                changed.append(index)
        self.refresh_rows(changed)

    def _sync_host(self, fleet: Fleet, host_id: HostId) -> bool:
        """Mark a host's rows for rendering; add and drop rows. True when rows came or went."""
        host = fleet.hosts.get(host_id)
        guests = host.guests if host is not None else {}
        members = False
        mine = self._host_rows.setdefault(host_id, set())
        for row in [r for r in mine if self._rows[r].uuid not in guests]:
            members |= self._drop_row(row)
        if host is None:
            return members
        stale_s = host.stale_for()
        stale = None if stale_s is None else f"{stale_s:.0f}"
        for g in guests.values():
            row = g.key.row
            entry = self._rows.get(row)
            if entry is None:
                entry = self._rows[row] = _Row(host_id, g.key.uuid)
                mine.add(row)
                members = True
            entry.label, entry.stale, entry.dirty = host.label, stale, True
        return members

    def _drop_row(self, row: str) -> bool:
        entry = self._rows.pop(row, None)
        if entry is None:
            return False
        self._host_rows.get(entry.host, set()).discard(row)
        self.marks.discard(GuestKey.parse_row(row))
        self.forget_row(row)
        return True

    def set_viewers(self, names: Iterable[str]) -> None:
        """The guests with a viewer open (their rows get a marker)."""
        new = frozenset(names)
        if new == self.viewers:
            return
        self.viewers = new
        if self._built and self.fleet.hosts:
            self.sync(self.fleet, Change(hosts=frozenset(self.fleet.hosts)))

    # -- sorting and filtering -------------------------------------------------------------
    def set_sort(self, what: str) -> None:
        """Sort by a field; choosing the same field again reverses the order (virt-top's way)."""
        field = SORTS.get(what, what)
        if field == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key = field
            self.sort_reverse = field not in ("name", "host")  # numbers: busiest first
        self.apply_sort()

    def sort_column(self) -> str | None:
        """The key of the visible column that carries the sort marker."""
        for s in self.shown:
            if s.column.field == self.sort_key:
                return s.key
        return None

    def _label(self, s: Shown, marked: str | None) -> Text:
        mark = SORT_MARK[self.sort_reverse] if s.key == marked else ""
        return Text(s.label + mark, justify=justify(s))

    def apply_sort(self, keep: str | None = None) -> None:
        """Show the guests that pass the filter, ordered by the sort field (ties by name, then
        row key: a stable order); put the marker on its column and the cursor back (see
        :meth:`_cursor_for`)."""
        keep = keep if keep is not None else self.selected_row()
        marked = self.sort_column()
        self.set_header_labels([self._label(s, marked) for s in self.shown])
        sorter = SORT_FIELDS[self.sort_key]
        by_host = self.sort_key == "host"
        numeric = self.sort_key not in ("name", "host")
        reverse = self.sort_reverse
        needle, shown_hosts = parse_filter(self.name_filter, self.fleet.labels())
        keyed: list[tuple[tuple[float | str, str, str], str]] = []
        hosts = self.fleet.hosts
        for row, entry in self._rows.items():
            host = hosts.get(entry.host)
            g = host.guests.get(entry.uuid) if host is not None else None
            if g is None or (needle and needle not in g.sample.name.lower()):
                continue
            if entry.host not in shown_hosts:
                continue
            value = entry.label.lower() if by_host else sorter(g.sample)
            if reverse and numeric and isinstance(value, float | int):
                value = -value  # descending, while equal keys stay in name order
            keyed.append(((value, g.sample.name, row), row))
        keyed.sort(key=lambda pair: pair[0], reverse=reverse and not numeric)
        rows = [row for _key, row in keyed]
        self.set_rows(rows, self._cursor_for(rows, keep))
