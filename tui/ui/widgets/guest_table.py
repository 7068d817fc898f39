"""The guest table: renders the fleet's guests. Keyed rows, fixed-width columns, and only
changed cells are written. It holds no canonical state: the fleet does; it keeps render caches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from tui.model.fleet import Change, Fleet, Guest
from tui.model.guest import GuestSample
from tui.model.ids import GuestKey
from tui.model.rates import History
from tui.ui.compat import CachedDataTable
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
    Column("name", "Name", 22, lambda s, h, _: Text(s.name), lambda s: s.name.lower()),
    Column("host", "Host", 12, lambda s, h, host: Text(host), None),
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


class GuestTable(CachedDataTable):
    """Rows keyed by :attr:`GuestKey.row`; the data comes from the fleet."""

    DEFAULT_CSS = """
    GuestTable { height: 1fr; }
    """

    def __init__(self, show_host: bool = False, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.columns_shown = tuple(c for c in COLUMNS if show_host or c.key != "host")
        self.fleet = Fleet()  # the app's store, set on the first sync
        self._cells: dict[str, tuple[str | Text, ...]] = {}
        self.sort_key = "name"
        self.sort_reverse = False
        self.name_filter = ""
        self.cell_writes = 0  # for tests and the bench: how many cells were actually written

    def on_mount(self) -> None:
        for col in self.columns_shown:
            self.add_column(col.label, width=col.width, key=col.key)

    @property
    def stat_columns(self) -> tuple[str, ...]:
        """The libvirt stat groups the visible columns need."""
        return tuple(sorted({c.group for c in self.columns_shown if c.group}))

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

    def _render_row(self, g: Guest, label: str, stale: float | None) -> tuple[str | Text, ...]:
        cells = tuple(c.render(g.sample, g.history, label) for c in self.columns_shown)
        if stale is None and not g.error:
            return cells
        # A reconnecting host's figures are frozen: say so and dim them. Odd XML: say so.
        out: list[str | Text] = []
        for col, cell in zip(self.columns_shown, cells, strict=True):
            text = cell.copy() if isinstance(cell, Text) else Text(cell)
            if col.key == "state":
                note = f"stale {stale:.0f}s" if stale is not None else "XML unreadable"
                text = Text(note, style="bold yellow" if stale is not None else "bold red")
            elif stale is not None:
                text.stylize("dim")
            out.append(text)
        return tuple(out)

    def _visible(self, s: GuestSample) -> bool:
        return not self.name_filter or self.name_filter.lower() in s.name.lower()

    def sync(self, fleet: Fleet, change: Change) -> None:
        """Apply a change of the fleet: add, update (changed cells only) and remove rows."""
        self.fleet = fleet
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
                    for i, (col, new, prev) in enumerate(
                        zip(self.columns_shown, cells, old, strict=True)
                    ):
                        if new != prev:
                            writes.setdefault(row, []).append((col.key, new))
                            self.cell_writes += 1
                            kept[i] = new
                    # Keep the objects the table holds: apply_sort finds rows by the state cell.
                    cells = tuple(kept)
                self._cells[row] = cells
        self.write_cells(writes)
        if structure_changed or (writes and self.sort_key != "name"):
            self.apply_sort()

    def _drop(self, row: str) -> bool:
        if self._cells.pop(row, None) is None:
            return False
        self.remove_row(row)
        return True

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
        keep = self.selected_row()
        sorter = col.sort
        # DataTable.sort hands the key function the row's cells, not its key. The state cell
        # is a Text object unique to its row, so its identity leads back to the row key.
        state_idx = [c.key for c in self.columns_shown].index("state")
        by_cell = {id(cells[state_idx]): row for row, cells in self._cells.items()}
        fleet = self.fleet

        def order(cells: tuple[object, ...]) -> tuple[float | str, str, str]:
            row = by_cell[id(cells[state_idx])]
            g = fleet.guest(GuestKey.parse_row(row))
            if g is None:
                return (-1.0, "", row)
            return (sorter(g.sample), g.name, row)  # equal keys keep a stable order

        self.sort(key=order, reverse=self.sort_reverse)
        # DataTable.sort keeps the cursor's row *index*; restore the selection by key.
        if keep is not None:
            self.select_row(keep)

    def select_row(self, row: str) -> None:
        try:
            index = self.get_row_index(row)
        except RowDoesNotExist:
            return
        self.move_cursor(row=index, animate=False)

    def set_filter(self, text: str) -> None:
        """Filter rows by name (``/``). Rows re-appear when the filter is cleared."""
        self.name_filter = text
        self.sync(self.fleet, Change(hosts=frozenset(self.fleet.hosts)))
