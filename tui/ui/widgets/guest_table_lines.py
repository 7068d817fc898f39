"""A line-API table of keyed rows (``ScrollView`` + ``render_line``): the guest table's base.

Textual's DataTable keeps its rows in a structure it rebuilds on every ``remove_row`` and
``sort``, and re-renders every visible line when the cursor moves or one cell changes: with
500 guests, sorting or filtering took 300-700 ms per key before the first repaint (bench P6).
Here the rows are a list of keys the owner sets at once (:meth:`LineTable.set_rows`: a filter
or a sort is one list), the cells come from the owner on demand (:meth:`LineTable.row_cells`,
for the rows on screen only), and a line is cached by its row key, the row's version
(:meth:`LineTable.bump_row`), its index and cursor state: a cursor move repaints two lines.
It looks like DataTable (:mod:`tui.ui.widgets.guest_table_paint`). Public Textual API only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.registry import BY_ID
from tui.ui.widgets.guest_table_paint import (
    CELL_PADDING,
    COMPONENT_CLASSES,
    DEFAULT_CSS,
    LinePainter,
)

HEADER = "\x00header"  # the header line's key in the caches


@dataclass(frozen=True)
class LineColumn:
    key: str
    label: Text
    width: int  # content width, without the padding

    @property
    def render_width(self) -> int:
        return self.width + 2 * CELL_PADDING


class _RowMessage(Message):
    def __init__(self, table: LineTable, row: str, index: int) -> None:
        super().__init__()
        self.table, self.row, self.index = table, row, index

    @property
    def control(self) -> LineTable:
        return self.table


class LineTable(ScrollView, can_focus=True):
    """Keyed rows of fixed-width cells with a header, zebra stripes, a row cursor and a fixed
    first column. Subclasses give the cells (:meth:`row_cells`)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = COMPONENT_CLASSES
    DEFAULT_CSS = DEFAULT_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        # Enter: shown in the footer as the registry's guest.detail, rebound with it ([keymap])
        Binding("enter", "select_cursor", BY_ID["guest.detail"].footer_label, id="guest.detail"),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "cursor_top", "Top", show=False),
        Binding("ctrl+end", "cursor_bottom", "Bottom", show=False),
    ]

    class RowHighlighted(_RowMessage):
        """The cursor is on another row."""

    class RowSelected(_RowMessage):
        """Enter on the cursor's row, or a click on it."""

    show_header = True
    header_height = 1
    fixed_columns = 1
    show_cursor = True
    cursor_type = "row"

    def __init__(self, **kw: object) -> None:
        self.painter = LinePainter(self)
        self._lines: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        super().__init__(**kw)  # type: ignore[arg-type]
        self.columns: tuple[LineColumn, ...] = ()
        self.rows: list[str] = []  # row keys, top to bottom
        self._index: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self.cursor_row = 0
        self._highlighted: str | None = None  # the row the last RowHighlighted named
        self.hover_row = -1
        self.hover_shown = False
        self._pseudo: object = None
        self._base: Style | None = None  # the widget's rich style, per render pass
        self._layout = 0  # bumped when the columns or their labels change

    # -- what the owner calls ---------------------------------------------------------------
    def row_cells(self, row: str) -> Sequence[Text]:
        """The cells of ``row``, one per column (subclasses: from their own store)."""
        raise NotImplementedError

    def set_columns(self, columns: Sequence[LineColumn]) -> None:
        self.columns = tuple(columns)
        self._layout += 1
        self._drop_caches()
        self._resize_virtual()
        self.refresh()

    def set_header_labels(self, labels: Sequence[Text]) -> None:
        """New header labels (the sort marker), same columns."""
        cols = tuple(
            LineColumn(c.key, label, c.width) for c, label in zip(self.columns, labels, strict=True)
        )
        if cols != self.columns:
            self.columns = cols
            self._layout += 1
            self.refresh_lines(0, self.header_height)

    def set_rows(self, rows: list[str], cursor: int | None = None) -> None:
        """The rows to show, in order (a filter or a sort), and where the cursor goes."""
        if rows != self.rows:
            self.rows = rows
            self._index = {row: i for i, row in enumerate(rows)}
            self._resize_virtual()
            self.refresh()
        self.move_cursor(self.cursor_row if cursor is None else cursor)

    def bump_row(self, row: str) -> None:
        """A row's cells changed: its cached line is stale (the caller repaints it)."""
        self._versions[row] = self._versions.get(row, 0) + 1

    def refresh_rows(self, indexes: Sequence[int]) -> None:
        """Repaint these rows' lines, in one refresh."""
        if indexes:
            width = max(self.virtual_size.width, self.size.width)
            top = self.header_height - int(self.scroll_offset.y)
            self.refresh(*(Region(0, top + i, width, 1) for i in indexes))

    def forget_row(self, row: str) -> None:
        self._versions.pop(row, None)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def has_row(self, row: str) -> bool:
        return row in self._index

    def get_row_index(self, row: str) -> int:
        return self._index[row]

    def row_at(self, index: int) -> str | None:
        return self.rows[index] if 0 <= index < len(self.rows) else None

    @property
    def total_width(self) -> int:
        return sum(c.render_width for c in self.columns)

    def _resize_virtual(self) -> None:
        size = Size(self.total_width, self.header_height + len(self.rows))
        if size != self.virtual_size:
            self.virtual_size = size

    # -- cursor and scrolling ---------------------------------------------------------------
    def visible_rows(self) -> range:
        """Row indexes on screen now (where the table is scrolled to)."""
        height = self.scrollable_content_region.height - self.header_height
        first = int(self.scroll_target_y)
        return range(first, min(len(self.rows), first + max(0, height)))

    def move_cursor(self, row: int, scroll: bool = True) -> None:
        row = max(0, min(row, len(self.rows) - 1))
        old, self.cursor_row = self.cursor_row, row
        if old != row:
            self.refresh_line(old + self.header_height)
            self.refresh_line(row + self.header_height)
        if scroll:
            self.scroll_to_row(row)
        key = self.row_at(row)
        if key is not None and key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key, row))

    def scroll_to_row(self, row: int) -> None:
        """Scroll just enough to show ``row`` (DataTable's rule: the header stays on top)."""
        height = self.scrollable_content_region.height - self.header_height
        if height <= 0:
            return
        top = int(self.scroll_target_y)
        if row < top:
            top = row
        elif row >= top + height:
            top = row - height + 1
        if top != int(self.scroll_target_y):
            self.scroll_to(y=top, animate=False, force=True)

    def user_moved(self) -> None:
        """Hook: the user moved the cursor (keys, a click)."""

    def _user_move(self, row: int, scroll: bool = True) -> None:
        self._hover(False)
        self.move_cursor(row, scroll)
        self.user_moved()

    def action_cursor_up(self) -> None:
        self._user_move(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._user_move(self.cursor_row + 1)

    def _page(self, sign: int) -> None:
        height = max(1, self.scrollable_content_region.height - self.header_height)
        self.scroll_relative(y=sign * height, animate=False, force=True)
        self._user_move(self.cursor_row + sign * height, scroll=False)

    def action_page_up(self) -> None:
        self._page(-1)

    def action_page_down(self) -> None:
        self._page(1)

    def action_cursor_top(self) -> None:
        self._user_move(0)

    def action_cursor_bottom(self) -> None:
        self._user_move(len(self.rows) - 1)

    def action_select_cursor(self) -> None:
        self._hover(False)
        key = self.row_at(self.cursor_row)
        if key is not None:
            self.post_message(self.RowSelected(self, key, self.cursor_row))

    # -- mouse ------------------------------------------------------------------------------
    def _row_under(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < self.header_height:
            return None
        index = offset.y - self.header_height + int(self.scroll_y)
        return index if index < len(self.rows) else None

    def _hover(self, show: bool, row: int | None = None) -> None:
        old = (self.hover_row, self.hover_shown)
        if row is not None:
            self.hover_row = row
        self.hover_shown = show
        if (self.hover_row, self.hover_shown) != old:
            for index in {old[0], self.hover_row}:
                if index >= 0:
                    self.refresh_line(index + self.header_height)

    async def _on_click(self, event: events.Click) -> None:
        self._hover(True)
        index = self._row_under(event)
        if index is None:
            return
        again = index == self.cursor_row
        self.move_cursor(index)
        self.user_moved()
        if again:
            self.action_select_cursor()
        event.stop()

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        index = self._row_under(event)
        self._hover(index is not None, index)

    def _on_leave(self, _event: events.Leave) -> None:
        self._hover(False)

    # -- rendering --------------------------------------------------------------------------
    @property
    def cell_renders(self) -> int:
        """Cells rendered to segments (cache misses): tests, the bench."""
        return self.painter.cell_renders

    def _drop_caches(self, cells: bool = True) -> None:
        self._lines.clear()
        self.painter.clear(cells)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._drop_caches(cells=False)  # a cell's own segments do not depend on CSS
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pseudo = self.get_pseudo_class_state()
        self._base = self.rich_style  # once per pass, not per line
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self._base if self._base is not None else self.rich_style
        if y < self.header_height:
            index, key = -1, HEADER
        else:
            index = y - self.header_height + scroll_y
            if index >= len(self.rows):
                return Strip.blank(width, base)
            key = self.rows[index]
        cells = [c.label for c in self.columns] if index < 0 else self.row_cells(key)
        cursor = index == self.cursor_row
        hover = index == self.hover_row
        cache_key = (
            key,
            self._versions.get(key, 0),
            index,
            cursor,
            hover and self.hover_shown,
            scroll_x,
            width,
            base,
            self._pseudo,
            self._layout,
        )
        strip = self._lines.get(cache_key)
        if strip is None:
            strip = self.painter.line(cells, index, cursor, hover, scroll_x, width, base)
            self._lines[cache_key] = strip
        return strip
