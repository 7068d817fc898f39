"""Textual private API, one place; targets textual==8.2.8.

Everything here reaches into Textual internals that may change in any release. Each function
names what it relies on; re-check them all when the pinned Textual version changes.
"""

from __future__ import annotations

import contextlib
from typing import IO, TYPE_CHECKING, Any, cast

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

if TYPE_CHECKING:
    from textual.app import App


class GuardedOutput:
    """A file for Textual's writer thread that never raises: after the terminal is gone (SIGHUP:
    writes fail with EIO, or EPIPE) it drops output instead of killing the thread."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # EIO/EPIPE after a hangup; ValueError: closed
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.broken = True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        try:
            return self._file.isatty()
        except (OSError, ValueError):
            return False


def guard_driver_output(app: App[Any]) -> bool:
    """Make the terminal driver's writes survive a hangup. True if the guard is (now) in place.

    Textual 8.2.8: ``LinuxDriver`` writes through ``driver._writer_thread``, a ``WriterThread``
    (``textual.drivers._writer_thread``) around ``driver._file`` (``sys.__stderr__``) with a
    bounded queue (30 items). After SIGHUP a write raises EIO, the thread dies, its queue fills,
    and the next ``driver.write`` on the event loop blocks for ever: the exit never completes.
    Here the running writer is stopped (it drains what is queued, in order) and replaced by one
    writing to a :class:`GuardedOutput`. Call it on the event loop once the app is in
    application mode (``App.on_mount`` or later); a headless driver is left alone.
    """
    try:
        from textual.drivers._writer_thread import WriterThread
    except ImportError:  # another Textual: nothing to guard this way
        return False
    driver = getattr(app, "_driver", None)
    old = getattr(driver, "_writer_thread", None)
    file = getattr(driver, "_file", None)
    if isinstance(file, GuardedOutput):
        return True
    if not isinstance(old, WriterThread) or file is None:
        return False
    if old.is_alive():
        old.stop()  # queue None and join: everything written so far reaches the terminal first
    guarded = GuardedOutput(file)
    new = WriterThread(cast(IO[str], guarded))
    new.start()
    driver._file = guarded  # type: ignore[union-attr]
    driver._writer_thread = new  # type: ignore[union-attr]
    return True


def saved_terminal_attrs(app: App[Any]) -> tuple[int, list[Any]] | None:
    """(fd, termios attributes) the driver saved before raw mode, to restore them by hand.

    Textual 8.2.8: ``LinuxDriver.fileno`` (stdin's fd) and ``LinuxDriver.attrs_before``.
    """
    driver = getattr(app, "_driver", None)
    attrs = getattr(driver, "attrs_before", None)
    fd = getattr(driver, "fileno", None)
    if attrs is None or not isinstance(fd, int):
        return None
    with contextlib.suppress(TypeError):
        return fd, list(attrs)
    return None


class CachedDataTable(DataTable[str | Text]):
    """A DataTable whose unchanged cells cost nothing to repaint (bench P1).

    Textual 8.2.8 keys DataTable's render caches on one update counter (``_update_count``) that
    every ``update_cell`` bumps, so one changed cell re-renders every visible cell, and
    ``update_cell`` repaints the whole table. Here ``_render_cell`` is overridden with a cache
    keyed on the cell's value *object* (callers keep the objects of unchanged cells), its place
    and style; and :meth:`write_cells` writes many cells into ``_data`` at once and refreshes
    only the changed rows. Relies on: ``_render_cell``, ``_column_locations``,
    ``_row_locations``, ``_header_row_key``, ``_data``, ``_update_count``,
    ``_show_hover_cursor``, ``_pseudo_class_state``, ``_clear_caches``.
    """

    def __init__(self, **kw: Any) -> None:
        self.cell_renders = 0  # cells rendered to segments (cache misses)
        self._cell_lines: LRUCache[tuple[object, ...], tuple[object, list[list[Segment]]]] = (
            LRUCache(4096)
        )
        super().__init__(**kw)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        column_key = self._column_locations.get_key(column_index)
        row_key = self._header_row_key if row_index < 0 else self._row_locations.get_key(row_index)
        if column_key is None or row_key is None:  # row labels, or a row that is going away
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value: object = (
            self.columns[column_key].label
            if row_index < 0
            else self._data.get(row_key, {}).get(column_key)
        )
        key = (
            row_key,
            column_key,
            row_index,  # the cell's segments carry {"row": index} meta for mouse clicks
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self.show_cursor,
            self.cursor_type,
            self.fixed_rows,
            self.fixed_columns,
            self._pseudo_class_state,
        )
        hit = self._cell_lines.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self.cell_renders += 1
        self._cell_lines[key] = (value, lines)
        return lines

    def _forget_cells(self) -> None:
        if hasattr(self, "_cell_lines"):  # DataTable.__init__ already styles and clears
            self._cell_lines.clear()

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._forget_cells()

    def notify_style_update(self) -> None:
        self._forget_cells()
        super().notify_style_update()

    def write_cells(self, writes: dict[str, list[tuple[str, str | Text]]]) -> None:
        """``update_cell`` for many cells at once, repainting only the rows that changed.

        ``DataTable.update_cell`` repaints the whole table for each cell it writes: header,
        every row and the empty area below (bench P1). This writes the same data, bumps the
        table's update counter once, and refreshes just the changed rows' regions.
        """
        if not writes:
            return
        for key, cells in writes.items():
            row = self._data[RowKey(key)]
            for column, value in cells:
                row[ColumnKey(column)] = value
        self._update_count += 1
        for key in writes:
            self.refresh_row(self.get_row_index(key))
