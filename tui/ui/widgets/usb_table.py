"""The USB device table and the USB event log (the rules table: :mod:`.usb_rules`).

The table renders :class:`tui.core.usb.view.UsbView` snapshots pushed to it (:meth:`UsbTable.
show`): the coordinator holds the devices, owners and rule states, the table only what it drew. The log is fed :class:`UsbEvent` batches (a stream, not state).
All of them accept data before they are mounted and show it once they are.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import DataTable, RichLog
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from tui.core.usb.view import UsbView
from tui.model.usb import UsbDevice, UsbEvent
from tui.util import terminal_safe

Column = tuple[str, str, int]  # (column key, label, width)

# Fixed widths, since update_cell never widens a column. Every column, as shown when the table
# is wide enough (114 columns and more); the cells of a row come in this order.
COLUMNS: tuple[Column, ...] = (
    ("port", "Port", 12),
    ("address", "Bus:Dev", 7),
    ("ids", "ID", 9),
    ("name", "Name", 34),
    ("serial", "Serial", 16),
    ("speed", "Speed", 6),
    ("owner", "Owner", 16),
)
CELL_PADDING = 2  # DataTable's cell_padding=1 on each side
NAME_MIN, NAME_MAX = 16, 60
# Narrower than every column needs: these go first, in this order (Owner always stays).
DROP_ORDER = ("speed", "serial")
NARROW_WIDTHS = {"port": 9, "owner": 14}
FRESH_STYLE = "bold green"


def layout_columns(width: int) -> tuple[Column, ...]:
    """The columns that fit ``width`` cells (scrollbar included), widest first: every column
    (Name grows to :data:`NAME_MAX` on a wide terminal); then without Speed, then without
    Serial, then with a narrower Port and Owner. Name takes what is left, at least
    :data:`NAME_MIN` (narrower than that, the table scrolls sideways)."""
    avail = width - 2  # the vertical scrollbar

    def cost(cols: list[Column]) -> int:
        return sum(w + CELL_PADDING for key, _l, w in cols if key != "name") + CELL_PADDING

    cols = list(COLUMNS)
    dropped = list(DROP_ORDER)
    while True:
        name_default = dict((k, w) for k, _l, w in COLUMNS)["name"]
        fits = avail - cost(cols) >= (name_default if dropped else NAME_MIN)
        if fits or not dropped:
            break
        gone = dropped.pop(0)
        cols = [c for c in cols if c[0] != gone]
    if avail - cost(cols) < name_default:
        cols = [(k, lbl, NARROW_WIDTHS.get(k, w)) for k, lbl, w in cols]
    name_width = max(NAME_MIN, min(NAME_MAX, avail - cost(cols)))
    return tuple((k, lbl, name_width if k == "name" else w) for k, lbl, w in cols)


def fmt_speed(speed: str) -> str:
    """sysfs speed in Mbit/s ("480", "5000", "1.5") -> "480M", "5G", "1.5M"."""
    if not speed:
        return ""
    try:
        value = float(speed)
    except ValueError:
        return speed
    if value >= 1000:
        return f"{value / 1000:g}G"
    return f"{value:g}M"


def port_sort_key(port: str) -> tuple[object, ...]:
    """Natural order: "1-1.2" < "1-1.10" < "2-1", root hubs ("usb1") first in their bus."""
    parts: list[object] = []
    for chunk in re.split(r"(\d+)", port):
        if chunk.isdigit():
            parts.append((0, int(chunk)))
        elif chunk:
            parts.append((1, chunk))
    return tuple(parts)


def _cells_sort_key(cells: tuple[Text, Text, Text]) -> tuple[object, ...]:
    """Sort key from the (address, ids, port) cells: bus, root hub first, then natural port."""
    address, ids, port = (cell.plain for cell in cells)
    bus = int(address.split(":", 1)[0] or "0", 10)
    return (bus, 0 if ids.startswith("1d6b:") else 1, port_sort_key(port))


class UsbTable(DataTable[Text]):
    """USB devices, one row per device, keyed by :attr:`UsbDevice.key`.

    * :meth:`show` renders a snapshot and touches only rows whose cells changed.
    * Root hubs (vendor 1d6b) are hidden unless :attr:`show_root_hubs` (see
      :meth:`toggle_root_hubs`).
    * A device that arrives within one generation of snapshots (plugged in, not listed at a
      feed's start) is highlighted for :attr:`highlight_seconds`.
    * The owner column comes from the snapshot's owners (hostdevs by bus/device address or by
      vendor/product ids); an address match wins over an ids match.
    """

    DEFAULT_CSS = """
    UsbTable { height: 1fr; }
    """

    highlight_seconds: float = 3.0  # set per instance to taste (tests use less)

    def __init__(
        self,
        *,
        show_root_hubs: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.show_root_hubs = show_root_hubs
        self.view = UsbView()  # the snapshot drawn (or to draw once mounted)
        self._shown: dict[str, tuple[str, ...]] = {}  # row key -> plain cells on screen
        self._fresh: dict[str, Timer] = {}
        self._ready = False
        self.layout_shown: tuple[Column, ...] = COLUMNS

    # -- lifecycle -----------------------------------------------------------------------
    def on_mount(self) -> None:
        self.layout_shown = layout_columns(self.size.width) if self.size.width else COLUMNS
        self._add_columns()
        self._ready = True
        self._sync_all()

    def _add_columns(self) -> None:
        for key, label, width in self.layout_shown:
            self.add_column(label, width=width, key=key)

    def on_resize(self, event: Resize) -> None:
        """Columns by priority: narrower terminals drop Speed, then Serial; Owner stays."""
        wanted = layout_columns(event.size.width)
        if wanted == self.layout_shown or not self._ready:
            return
        selected = self.selected_device
        self.layout_shown = wanted
        with self.app.batch_update():
            self.clear(columns=True)
            self._shown.clear()
            self._add_columns()
            self._sync_all()
            if selected is not None and selected.key in self._shown:
                self.move_cursor(row=self.get_row_index(selected.key), animate=False)

    # -- public API ----------------------------------------------------------------------
    @property
    def devices(self) -> Mapping[str, UsbDevice]:
        """The snapshot's devices (read-only): {key: device}."""
        return self.view.devices

    def show(self, view: UsbView) -> None:
        """Render ``view``; only rows whose cells changed are touched. A device new within the
        same generation was plugged in: it is highlighted."""
        old, self.view = self.view, view
        if view.generation != old.generation or not old.devices_known:
            self._sync_all()
            return
        changed = {
            k: k not in old.devices for k, d in view.devices.items() if old.devices.get(k) != d
        }
        changed.update({k: False for k in old.devices if k not in view.devices})
        if view.owners is not old.owners:
            for k in view.devices:
                changed.setdefault(k, False)
        if changed:
            self._sync(changed)

    def owner_of(self, device: UsbDevice) -> str:
        return self.view.owner_of(device)

    def toggle_root_hubs(self) -> bool:
        self.show_root_hubs = not self.show_root_hubs
        self._sync({key: False for key in self.devices if self.devices[key].is_root_hub})
        return self.show_root_hubs

    def is_visible(self, device: UsbDevice) -> bool:
        return self.show_root_hubs or not device.is_root_hub

    def is_highlighted(self, key: str) -> bool:
        return key in self._fresh

    @property
    def shown_keys(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value or "" for row in self.ordered_rows] if self._ready else []

    @property
    def selected_device(self) -> UsbDevice | None:
        if not self._ready or self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return self.devices.get(row_key.value or "")

    # -- rendering -----------------------------------------------------------------------
    def _plain_cells(self, device: UsbDevice) -> tuple[str, ...]:
        return (
            device.port,
            device.address,
            device.ids,
            device.label,
            device.serial,
            fmt_speed(device.speed),
            self.owner_of(device),
        )

    def _styled(self, cells: tuple[str, ...], fresh: bool) -> list[Text]:
        style = FRESH_STYLE if fresh else ""
        # product, manufacturer and serial come from the device itself: terminal-safe
        return [
            Text(terminal_safe(cell), style=style, no_wrap=True, overflow="ellipsis")
            for cell in cells
        ]

    def _row_cells(self, cells: tuple[str, ...], fresh: bool) -> list[Text]:
        """The styled cells of the columns shown, in their order."""
        by_key = dict(zip((k for k, _l, _w in COLUMNS), self._styled(cells, fresh), strict=True))
        return [by_key[k] for k, _l, _w in self.layout_shown]

    def _sync_all(self) -> None:
        keys = {key: False for key in self.devices}
        keys.update({key: False for key in self._shown if key not in self.devices})
        self._sync(keys)

    def _sync(self, keys: Mapping[str, bool]) -> None:
        """Bring the rows for ``keys`` (key -> newly plugged) in line with ``self.devices``."""
        if not self._ready:
            return
        added = False
        with self.app.batch_update():
            selected = self.selected_device
            for key, is_new in keys.items():
                device = self.devices.get(key)
                wanted = device is not None and self.is_visible(device)
                if not wanted:
                    if key in self._shown:
                        self._remove_row(key)
                    continue
                assert device is not None
                if is_new:
                    self._mark_fresh(key)
                cells = self._plain_cells(device)
                if key not in self._shown:
                    self.add_row(*self._row_cells(cells, self.is_highlighted(key)), key=key)
                    added = True
                elif cells != self._shown[key] or is_new:
                    self._update_row(key, cells, self._shown[key], force=is_new)
                self._shown[key] = cells
            if added:
                self._resort(selected)

    def _update_row(
        self, key: str, cells: tuple[str, ...], old: tuple[str, ...], force: bool = False
    ) -> None:
        styled = self._styled(cells, self.is_highlighted(key))
        shown = {column for column, _l, _w in self.layout_shown}
        for (column, _, _), new_cell, old_cell, text in zip(
            COLUMNS, cells, old, styled, strict=True
        ):
            if column in shown and (force or new_cell != old_cell):
                self.update_cell(key, column, text)

    def _remove_row(self, key: str) -> None:
        with contextlib.suppress(RowDoesNotExist):
            self.remove_row(key)
        self._shown.pop(key, None)
        timer = self._fresh.pop(key, None)
        if timer is not None:
            timer.stop()

    def _resort(self, selected: UsbDevice | None) -> None:
        """Keep rows in bus/port order; the cursor follows its row key, not its index."""
        self.sort("address", "ids", "port", key=_cells_sort_key)
        if selected is not None and selected.key in self._shown:
            self.move_cursor(row=self.get_row_index(selected.key), animate=False)

    def _mark_fresh(self, key: str) -> None:
        old = self._fresh.pop(key, None)
        if old is not None:
            old.stop()
        self._fresh[key] = self.set_timer(
            self.highlight_seconds, lambda: self._unmark_fresh(key), name=f"usb-fresh-{key}"
        )

    def _unmark_fresh(self, key: str) -> None:
        if self._fresh.pop(key, None) is None or key not in self._shown:
            return
        with self.app.batch_update():
            self._update_row(key, self._shown[key], self._shown[key], force=True)


NO_EVENTS = "USB events (plug, unplug, driver bind) appear here as they happen."
ACTION_STYLE = {"add": "green", "remove": "red", "bind": "cyan", "unbind": "yellow"}


def format_event(event: UsbEvent) -> str:
    """One plain log line: "12:03:04.567 add    001:010 046d:c52b Logitech Receiver [1-1]"."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.wall))
    millis = int((event.wall % 1) * 1000)
    device = event.device
    if device is None:
        what = event.sys_path
    else:
        what = f"{device.address} {device.ids} {device.label} [{device.port}]"
        if event.action == "bind" and device.driver:
            what += f" driver={device.driver}"
    return f"{stamp}.{millis:03d} {event.action:<6} {what}"


class UsbEventLog(RichLog):
    """Timestamped add/remove/bind/unbind lines, newest at the bottom.

    ``entries`` keeps the plain text of the last ``max_lines`` lines (handy for tests and for
    copying out).
    """

    DEFAULT_CSS = """
    UsbEventLog { height: 8; border-top: solid $primary-darken-2; }
    """

    def __init__(
        self,
        *,
        max_lines: int = 500,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            max_lines=max_lines, wrap=False, markup=False, name=name, id=id, classes=classes
        )
        self._lines: deque[tuple[str, str]] = deque(maxlen=max_lines)  # (line, action)
        self._live = False
        self._placeholder = False

    @property
    def entries(self) -> list[str]:
        return [line for line, _ in self._lines]

    def log_events(self, events: Iterable[UsbEvent]) -> None:
        events = list(events)
        if events and self._placeholder:
            self.clear()
            self._placeholder = False
        for event in events:
            line = terminal_safe(format_event(event))
            self._lines.append((line, event.action))
            if self._live:
                self.write(Text(line, style=ACTION_STYLE.get(event.action, "")))

    def on_mount(self) -> None:
        self._live = True
        for line, action in self._lines:  # logged before the widget was mounted
            self.write(Text(line, style=ACTION_STYLE.get(action, "")))
        if not self._lines:
            self.write(Text(NO_EVENTS, style="dim"))
            self._placeholder = True
