"""The guest table: keyed rows, fixed-width columns, only changed cells are written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from tui.adapters.libvirt.stats import GuestSample, History
from tui.ui.widgets.spark import sparkline
from tui.util import DASH, fmt_bytes, fmt_duration, fmt_pct, fmt_rate

STATE_STYLE = {
    "running": "green",
    "paused": "yellow",
    "shut off": "dim",
    "crashed": "bold red",
    "shutting down": "yellow",
    "suspended": "cyan",
}


def _kib(v: int | None) -> str:
    return DASH if v is None else fmt_bytes(v * 1024)


def _mem(s: GuestSample) -> str:
    if s.mem_cur_kib is None and s.mem_max_kib is None:
        return DASH
    return f"{_kib(s.mem_cur_kib)}/{_kib(s.mem_max_kib)}"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    render: Callable[[GuestSample, History | None, str], str | Text]
    sort: Callable[[GuestSample], float | str] | None = None
    group: str = ""  # which libvirt stat group feeds it ("" = state/XML only)


def _state(s: GuestSample, _h: History | None, _host: str) -> Text:
    return Text(s.state, style=STATE_STYLE.get(s.state, ""))


# libvirt's virDomainShutoffReason, for the uptime column of a guest that is off.
SHUTOFF_REASONS = {
    1: "shut down",
    2: "destroyed",
    3: "crashed",
    4: "migrated",
    5: "saved",
    6: "failed",
    7: "snapshot",
    8: "daemon",
}


def _uptime_or_reason(s: GuestSample) -> str:
    if s.active:
        return fmt_duration(s.uptime_s)
    return SHUTOFF_REASONS.get(s.reason, DASH) if s.state == "shut off" else DASH


def _num(v: float | None) -> float:
    return -1.0 if v is None else v


COLUMNS: tuple[Column, ...] = (
    Column("name", "Name", 22, lambda s, h, _: s.name, lambda s: s.name.lower()),
    Column("host", "Host", 12, lambda s, h, host: host, None),
    Column("state", "State", 13, _state, lambda s: s.state),
    Column("vcpus", "vCPU", 4, lambda s, h, _: DASH if s.vcpus is None else str(s.vcpus)),
    Column("cpu", "CPU%", 6, lambda s, h, _: fmt_pct(s.cpu_pct), lambda s: _num(s.cpu_pct), "cpu"),
    Column("cpuh", "Host%", 6, lambda s, h, _: fmt_pct(s.cpu_host_pct), None, "cpu"),
    Column(
        "cpuhist",
        "CPU history",
        12,
        lambda s, h, _: sparkline(h.cpu, 12, floor=10.0) if h is not None and s.active else "",
        None,
        "cpu",
    ),
    Column("mem", "Mem cur/max", 15, lambda s, h, _: _mem(s), lambda s: _num(s.mem_cur_kib), "mem"),
    Column("rss", "RSS", 7, lambda s, h, _: _kib(s.rss_kib), lambda s: _num(s.rss_kib), "mem"),
    Column("used", "In-guest", 8, lambda s, h, _: _kib(s.guest_used_kib), None, "mem"),
    Column(
        "rd",
        "Disk R",
        9,
        lambda s, h, _: fmt_rate(s.rd_bps),
        lambda s: _num(s.rd_bps) + _num(s.wr_bps),
        "disk",
    ),
    Column("wr", "Disk W", 9, lambda s, h, _: fmt_rate(s.wr_bps), None, "disk"),
    Column(
        "rx",
        "Net RX",
        9,
        lambda s, h, _: fmt_rate(s.rx_bps),
        lambda s: _num(s.rx_bps) + _num(s.tx_bps),
        "net",
    ),
    Column("tx", "Net TX", 9, lambda s, h, _: fmt_rate(s.tx_bps), None, "net"),
    Column("uptime", "Uptime", 11, lambda s, h, _: _uptime_or_reason(s)),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
SORTS = {"cpu": "cpu", "mem": "mem", "name": "name", "disk": "rd", "net": "rx"}


class GuestTable(DataTable[str | Text]):
    """Rows keyed ``"<host index>/<uuid>"``."""

    DEFAULT_CSS = """
    GuestTable { height: 1fr; }
    """

    def __init__(self, show_host: bool = False, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)  # type: ignore[arg-type]
        self.columns_shown = tuple(c for c in COLUMNS if show_host or c.key != "host")
        self.samples: dict[str, GuestSample] = {}
        self.hosts: dict[str, str] = {}
        self._cells: dict[str, tuple[str | Text, ...]] = {}
        self.sort_key = "name"
        self.sort_reverse = False
        self.name_filter = ""
        self.cell_writes = 0  # for tests and the bench: how many cells were actually written
        self.cell_renders = 0  # cells rendered to segments (cache misses below)
        # DataTable keys its render caches on one update counter that every update_cell bumps,
        # so one changed cell re-renders every visible cell. This cache keys a cell's lines on
        # its value object (unchanged cells keep theirs, see update_host), place and style.
        self._cell_lines: LRUCache[tuple[object, ...], tuple[object, list[list[Segment]]]] = (
            LRUCache(4096)
        )

    def on_mount(self) -> None:
        for col in self.columns_shown:
            self.add_column(col.label, width=col.width, key=col.key)

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

    @property
    def stat_columns(self) -> tuple[str, ...]:
        """The libvirt stat groups the visible columns need."""
        return tuple(sorted({c.group for c in self.columns_shown if c.group}))

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except (CellDoesNotExist, RowDoesNotExist):
            return None

    def selected_sample(self) -> GuestSample | None:
        key = self.selected_key()
        return self.samples.get(key) if key else None

    def _render_row(
        self, s: GuestSample, hist: History | None, host: str
    ) -> tuple[str | Text, ...]:
        return tuple(c.render(s, hist, host) for c in self.columns_shown)

    def _visible(self, s: GuestSample) -> bool:
        return not self.name_filter or self.name_filter.lower() in s.name.lower()

    def update_host(
        self,
        host_index: int,
        host_label: str,
        samples: list[GuestSample],
        history: dict[str, History],
    ) -> None:
        """Apply one host's tick: add, update (changed cells only) and remove rows."""
        prefix = f"{host_index}/"
        seen = set()
        structure_changed = False
        writes: dict[str, list[tuple[str, str | Text]]] = {}
        for s in samples:
            key = prefix + s.uuid
            seen.add(key)
            self.samples[key] = s
            self.hosts[key] = host_label
            if not self._visible(s):
                if key in self._cells:
                    self.remove_row(key)
                    del self._cells[key]
                continue
            cells = self._render_row(s, history.get(s.uuid), host_label)
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                self.cell_writes += len(cells)
                structure_changed = True
            else:
                kept = list(old)
                for i, (col, new, prev) in enumerate(
                    zip(self.columns_shown, cells, old, strict=True)
                ):
                    if new != prev:
                        writes.setdefault(key, []).append((col.key, new))
                        self.cell_writes += 1
                        kept[i] = new
                # Keep the objects the table holds: apply_sort finds rows by the state cell's id.
                cells = tuple(kept)
            self._cells[key] = cells
        self._write_cells(writes)
        for key in [k for k in self.samples if k.startswith(prefix) and k not in seen]:
            self.drop(key)
            structure_changed = True
        if structure_changed or self.sort_key != "name":
            self.apply_sort()

    def _write_cells(self, writes: dict[str, list[tuple[str, str | Text]]]) -> None:
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

    def set_state(self, key: str, state: str) -> bool:
        """An event changed a guest's state: show it now, before the next tick."""
        if key not in self._cells:
            return False
        cell = Text(state, style=STATE_STYLE.get(state, ""))
        idx = [c.key for c in self.columns_shown].index("state")
        cells = list(self._cells[key])
        cells[idx] = cell
        self._cells[key] = tuple(cells)
        self.update_cell(key, "state", cell)
        self.cell_writes += 1
        return True

    def drop(self, key: str) -> None:
        self.samples.pop(key, None)
        self.hosts.pop(key, None)
        if self._cells.pop(key, None) is not None:
            self.remove_row(key)

    def set_sort(self, what: str) -> None:
        """Sort by a field; choosing the same field again reverses the order (virt-top's way)."""
        col = SORTS.get(what, what)
        if col == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key = col
            self.sort_reverse = col not in ("name",)  # busiest first
        self.apply_sort()

    def apply_sort(self) -> None:
        col = COLUMN_BY_KEY[self.sort_key]
        if col.sort is None or self.row_count < 2:
            return
        keep = self.selected_key()
        sorter = col.sort
        # DataTable.sort hands the key function the row's cells, not its key. The state cell
        # is a Text object unique to its row, so its identity leads back to the row key.
        state_idx = [c.key for c in self.columns_shown].index("state")
        by_cell = {id(cells[state_idx]): key for key, cells in self._cells.items()}

        def order(cells: tuple[object, ...]) -> tuple[float | str, str]:
            s = self.samples[by_cell[id(cells[state_idx])]]
            return (sorter(s), s.name)

        self.sort(key=order, reverse=self.sort_reverse)
        # DataTable.sort keeps the cursor's row *index*; restore the selection by key.
        if keep is not None:
            self.select_key(keep)

    def select_key(self, key: str) -> None:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return
        self.move_cursor(row=index, animate=False)

    def set_filter(self, text: str) -> None:
        """Filter rows by name (``/``). Rows re-appear when the filter is cleared."""
        self.name_filter = text
        for key, s in list(self.samples.items()):
            visible = self._visible(s)
            if visible and key not in self._cells:
                cells = self._render_row(s, None, self.hosts.get(key, ""))
                self.add_row(*cells, key=key)
                self._cells[key] = cells
            elif not visible and key in self._cells:
                self.remove_row(key)
                del self._cells[key]
        self.apply_sort()
