"""What the storage and networks screens share beyond :mod:`hostops`: a list of a host's
objects (pools, networks) above a list of what the one under the cursor holds (its volumes,
its DHCP leases), both read through the family on the runner, and the start, stop (asks
first) and autostart of the object under the cursor.

A screen names its tables and words in class attributes and says how to read and draw its
rows (``read_main``, ``read_detail``, ``main_rows``, ``detail_rows``, ``detail_title``);
the rest of the two lists is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Static

from tui.model.ids import HostId
from tui.ui import actions
from tui.ui.screens.hostops import Cell, F, HostOpsScreen, refill, row_key
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe


class Listed(Protocol):
    """A row of the upper list: a pool, a network."""

    @property
    def name(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def autostart(self) -> bool: ...
    @property
    def persistent(self) -> bool: ...


M = TypeVar("M", bound=Listed)  # the upper list's rows: Pool, Network
D = TypeVar("D")  # the lower list's rows: Volume, Lease
Rows = list[tuple[str, list[Cell]]]  # (row key, cells)


class ResourceListScreen(HostOpsScreen[F], Generic[F, M, D]):
    """The objects of one family of one host (``M``), and what the selected one holds (``D``)."""

    NOUN = ""  # "pool", "network": "No pool selected.", "start pool NAME"
    MAIN_WHAT = ""  # the upper list's read, as the runner and the log name it
    DETAIL_WHAT = ""  # the lower list's read: "volumes" (of NAME)
    MAIN_ID = DETAIL_ID = DETAIL_TITLE_ID = ""
    MAIN_COLUMNS: tuple[str, ...] = ()
    DETAIL_COLUMNS: tuple[str, ...] = ()
    DETAIL_TITLE = ""  # the lower list's title while no object is selected
    EMPTY = ""  # its title when the host has none of the objects
    DEFAULT_CSS = """
    ResourceListScreen #ops-title, ResourceListScreen .ops-detail-title { padding: 0 1; }
    ResourceListScreen .ops-detail-title { color: $text-muted; }
    ResourceListScreen #ops-busy { padding: 0 1; height: auto; color: $warning; }
    ResourceListScreen .ops-main { height: auto; max-height: 8; }
    ResourceListScreen .ops-detail { height: 1fr; }
    """

    def __init__(self, host: HostId, host_label: str) -> None:
        super().__init__(host, host_label)
        self.items: tuple[M, ...] = ()  # the upper list: the pools, the networks
        self.details: tuple[D, ...] = ()  # the lower one: its volumes, its leases
        self.details_of = ""  # the object whose details are shown
        self.main_loads = self.detail_loads = 0  # lists applied (tests wait on them)

    # -- what a screen says --------------------------------------------------------------
    def read_main(self, ops: F) -> tuple[M, ...]:
        raise NotImplementedError

    def read_detail(self, ops: F, name: str) -> tuple[D, ...]:
        raise NotImplementedError

    def main_rows(self, items: tuple[M, ...]) -> Rows:
        raise NotImplementedError

    def detail_rows(self, details: tuple[D, ...]) -> Rows:
        raise NotImplementedError

    def detail_title(self, current: M, n: int) -> Text:
        """The lower list's title for the selected object holding ``n`` rows."""
        raise NotImplementedError

    # -- the lists -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        title = Text(terminal_safe(f"{self.TITLE_WHAT} on {self.host_label}"), style="bold")
        yield Label(title, id="ops-title")
        main: DataTable[Cell] = DataTable(
            id=self.MAIN_ID, classes="ops-main", cursor_type="row", zebra_stripes=True
        )
        main.add_columns(*self.MAIN_COLUMNS)
        yield main
        yield Label(self.DETAIL_TITLE, id=self.DETAIL_TITLE_ID, classes="ops-detail-title")
        detail: DataTable[Cell] = DataTable(
            id=self.DETAIL_ID, classes="ops-detail", cursor_type="row", zebra_stripes=True
        )
        detail.add_columns(*self.DETAIL_COLUMNS)
        yield detail
        yield Static("", id="ops-busy")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.main_table.focus()
        self.set_interval(0.5, self.tick)
        self.reload()

    @property
    def main_table(self) -> DataTable[Cell]:
        return self.query_one(f"#{self.MAIN_ID}", DataTable)

    @property
    def detail_table(self) -> DataTable[Cell]:
        return self.query_one(f"#{self.DETAIL_ID}", DataTable)

    @property
    def loaded(self) -> bool:
        return self.main_loads > 0

    def reload(self) -> None:
        self.submit(self.MAIN_WHAT, self.read_main, self.show_main, quiet=True)

    def show_main(self, items: tuple[M, ...]) -> None:
        if not self.is_attached:
            return
        self.items = items
        table = self.main_table
        refill(table, self.main_rows(items), row_key(table))
        self.main_loads += 1
        self.load_detail()

    def selected(self) -> M | None:
        name = row_key(self.main_table)
        return next((m for m in self.items if m.name == name), None)

    def load_detail(self) -> None:
        current = self.selected()
        if current is None or not current.active:
            self.show_detail(current.name if current else "", ())
            return
        name = current.name
        self.submit(
            f"{self.DETAIL_WHAT} of {name}",
            lambda ops: self.read_detail(ops, name),
            lambda got: self.show_detail(name, got),
            quiet=True,
        )

    def show_detail(self, of: str, details: tuple[D, ...]) -> None:
        if not self.is_attached:
            return
        current = self.selected()
        if current is not None and current.name != of:
            return  # the cursor moved on meanwhile
        self.details, self.details_of = details, of
        table = self.detail_table
        refill(table, self.detail_rows(details), row_key(table))
        title = self.query_one(f"#{self.DETAIL_TITLE_ID}", Label)
        if current is None:
            title.update(self.EMPTY if not self.items else self.DETAIL_TITLE)
        else:
            title.update(self.detail_title(current, len(details)))
        self.detail_loads += 1

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == self.MAIN_ID:
            current = self.selected()
            if current is not None and current.name != self.details_of:
                self.load_detail()

    # -- keys ----------------------------------------------------------------------------
    def ready(self, action_id: str) -> bool:
        """Allowed (not read-only) and nothing else running; else said why."""
        return not actions.refuse(self.deck, action_id) and self.not_busy(action_id)

    def selected_for(self, action_id: str) -> M | None:
        if not self.ready(action_id):
            return None
        current = self.selected()
        if current is None:
            self.app.notify(f"No {self.NOUN} selected.", severity="warning")
        return current

    def start_selected(self, action_id: str, start: Callable[[F, str], str]) -> None:
        current = self.selected_for(action_id)
        if current is not None:
            name = current.name
            self.mutate(
                f"start {self.NOUN} {name}",
                f"starting {self.NOUN} {name}",
                lambda o: start(o, name),
            )

    def stop_asking(self, current: M, question: str, stop: Callable[[F, str], str]) -> None:
        """Ask ``question`` (plus what becomes of a transient one), then stop ``current``."""
        name = current.name
        gone = "" if current.persistent else " It is transient: it will be gone."
        self.ask(
            f"{question}{gone}",
            "Stop",
            lambda: self.mutate(
                f"stop {self.NOUN} {name}", f"stopping {self.NOUN} {name}", lambda o: stop(o, name)
            ),
        )

    def toggle_autostart(self, action_id: str, set_to: Callable[[F, str, bool], str]) -> None:
        current = self.selected_for(action_id)
        if current is not None:
            name, on = current.name, not current.autostart
            self.submit(f"autostart {self.NOUN} {name}", lambda o: set_to(o, name, on), self.said)
