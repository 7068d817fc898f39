"""GuestTable's incremental updates: row-only repaints and the per-cell render cache.

The table must look exactly like a table filled in one go, and survive re-sorts after ticks
that left some cells unchanged (sorting finds rows by their state cell's identity).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from tui.model.domain import DomainInfo, UsbHostdev
from tui.model.fleet import PENDING_SHUTDOWN, Fleet
from tui.model.guest import GuestSample
from tui.model.host import PollResult
from tui.model.ids import HostId
from tui.model.link import LinkReport, LinkState
from tui.model.rates import History
from tui.ui.widgets.guest_columns import COLUMNS, USB_MARK, VIEWER_MARK, layout, total_width
from tui.ui.widgets.guest_table import GuestTable

HOST = HostId("test:///default")


def sample(
    i: int, cpu: float | None, state: str = "running", name: str | None = None, **kw: object
) -> GuestSample:
    return GuestSample(
        name=name or f"guest-{i}",
        uuid=f"00000000-0000-0000-0000-{i:012d}",
        state=state,
        state_code=1 if state == "running" else 5,
        reason=0,
        vcpus=1,
        cpu_pct=cpu,
        cpu_host_pct=None if cpu is None else cpu / 2,
        uptime_s=100.0 + i,
        **kw,  # type: ignore[arg-type]
    )


def feed(
    table: GuestTable,
    fleet: Fleet,
    tick: list[GuestSample],
    info: dict[str, DomainInfo] | None = None,
) -> None:
    """One poll through the store, as the app applies it; no history (sparklines empty)."""
    if HOST not in fleet.hosts:
        fleet.add_host(HOST, "h")
        fleet.apply_link(HOST, LinkReport(HOST.uri, LinkState.UP))
    seq = fleet.host(HOST).seq + 1
    change = fleet.apply_poll(HOST, seq, PollResult(HOST.uri, tick, 0.0, 0, None, info or {}))
    for g in fleet.guests():
        g.history = History()
    table.sync(fleet, change)


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield GuestTable(id="t")


def lines(table: GuestTable, count: int) -> list[list[tuple[str, object]]]:
    return [[(seg.text, seg.style) for seg in table.render_line(y)] for y in range(count)]


async def test_ticks_render_like_a_fresh_table() -> None:
    ticks = [
        [sample(1, 10.0), sample(2, None), sample(3, 30.0)],
        [sample(1, 12.5), sample(2, None), sample(3, 30.0)],  # one cell changes
        [sample(1, 12.5), sample(2, 5.0), sample(3, 31.0, "paused")],
    ]
    updated, fresh = TableApp(), TableApp()
    async with updated.run_test(size=(180, 12)) as pilot:
        table = updated.query_one(GuestTable)
        fleet = Fleet()
        for tick in ticks:
            feed(table, fleet, tick)
            await pilot.pause()
        got = lines(table, 5)
        renders_after_ticks = table.cell_renders
    async with fresh.run_test(size=(180, 12)) as pilot:
        table = fresh.query_one(GuestTable)
        feed(table, Fleet(), ticks[-1])
        await pilot.pause()
        want = lines(table, 5)
    assert got == want
    assert renders_after_ticks > 0


async def test_unchanged_cells_are_not_rendered_again() -> None:
    app = TableApp()
    async with app.run_test(size=(180, 12)) as pilot:
        table = app.query_one(GuestTable)
        fleet = Fleet()
        feed(table, fleet, [sample(1, 10.0), sample(2, 20.0)])
        await pilot.pause()
        lines(table, 3)
        before = table.cell_renders
        feed(table, fleet, [sample(1, 11.0), sample(2, 20.0)])
        await pilot.pause()
        lines(table, 3)
        # guest-1's CPU% and Host% changed; nothing else is rendered again.
        assert table.cell_renders - before == 2


async def test_sort_after_ticks_with_unchanged_state_cells() -> None:
    app = TableApp()
    async with app.run_test(size=(180, 12)) as pilot:
        table = app.query_one(GuestTable)
        fleet = Fleet()
        feed(table, fleet, [sample(2, 1.0), sample(1, 2.0)])
        feed(table, fleet, [sample(2, 3.0), sample(1, 4.0)])  # equal state Texts
        feed(table, fleet, [sample(2, 3.0), sample(1, 4.0), sample(3, 0.5)])
        table.set_sort("cpu")  # used to raise KeyError: the state cell's id was stale
        await pilot.pause()
        order = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert order == ["guest-1", "guest-2", "guest-3"]


# -- column priorities --------------------------------------------------------------------------
def keys_at(width: int, show_host: bool = False) -> list[str]:
    return [s.key for s in layout(width, show_host)]


def test_layout_keeps_the_key_columns_at_80() -> None:
    shown = layout(78)  # 80 columns, a vertical scrollbar's room kept free
    assert total_width(shown) <= 78
    assert keys_at(78) == ["name", "state", "cpu", "mem", "disk", "net"]
    # Host%, In-guest and the CPU history go first; disk and net merge before they go.
    at_120 = ["name", "state", "vcpus", "cpu", "mem", "rss", "disk", "net", "uptime"]
    assert keys_at(118) == at_120
    assert total_width(layout(118)) <= 118
    assert "cpuh" not in keys_at(150) and "used" not in keys_at(160)
    assert keys_at(185) == [c.key for c in COLUMNS if c.key != "host"]  # everything fits
    assert "ip" not in keys_at(184)  # the IP column (issue 13) is the first to go


def test_layout_narrows_step_by_step() -> None:
    widths = range(200, 40, -1)
    previous = None
    for w in widths:
        shown = layout(w)
        assert shown[0].key == "name"  # the fixed column
        if total_width(shown) > w:
            # Nothing left to drop: only the six key columns at their narrowest remain.
            assert [s.key for s in shown] == ["name", "state", "cpu", "mem"]
        if previous is not None:
            assert total_width(shown) <= total_width(previous)
        previous = shown
    with_host = keys_at(118, show_host=True)
    assert with_host[:3] == ["name", "host", "state"] and {"disk", "net"} <= set(with_host)


class WideApp(App[None]):
    def compose(self) -> ComposeResult:
        yield GuestTable(id="t")

    def on_guest_table_layout_changed(self) -> None:
        self.layouts = getattr(self, "layouts", 0) + 1


def header(table: GuestTable) -> dict[str, Text]:
    return table.header_labels()


async def test_resize_relayouts_keeps_rows_and_selection() -> None:
    app = WideApp()
    async with app.run_test(size=(180, 12)) as pilot:
        table = app.query_one(GuestTable)
        fleet = Fleet()
        feed(table, fleet, [sample(i, float(i)) for i in range(1, 5)])
        await pilot.pause()
        assert "rd" in header(table) and "cpuh" in header(table)
        assert table.stat_columns == ("cpu", "disk", "mem", "memsize", "net")  # In-guest: mem
        table.focus()
        await pilot.press("down", "down")
        key = table.selected_row()
        await pilot.resize_terminal(80, 12)
        await pilot.pause()
        assert list(header(table)) == ["name", "state", "cpu", "mem", "disk", "net"]
        assert table.row_count == 4 and table.selected_row() == key
        assert table.fixed_columns == 1  # Name stays put when scrolling sideways
        assert table.virtual_size.width <= 80  # no sideways scrolling
        await pilot.resize_terminal(70, 12)
        await pilot.pause()
        assert "net" not in header(table)
        assert table.stat_columns == ("cpu", "disk", "memsize")  # polls ask for fewer groups
        assert app.layouts >= 2  # 80, then 70 columns


async def test_sort_marker_and_stable_ties() -> None:
    app = WideApp()
    async with app.run_test(size=(180, 12)) as pilot:
        table = app.query_one(GuestTable)
        fleet = Fleet()
        feed(table, fleet, [sample(3, 5.0), sample(1, 5.0), sample(2, 9.0), sample(4, None)])
        await pilot.pause()
        assert header(table)["name"].plain == "Name▲"
        table.set_sort("cpu")
        await pilot.pause()
        labels = header(table)
        assert labels["cpu"].plain == "CPU%▼" and labels["name"].plain == "Name"
        assert labels["cpu"].justify == "right"
        order = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert order == ["guest-2", "guest-1", "guest-3", "guest-4"]  # ties: by name
        table.set_sort("cpu")
        await pilot.pause()
        assert header(table)["cpu"].plain == "CPU%▲"
        order = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert order == ["guest-4", "guest-1", "guest-3", "guest-2"]  # ties still by name
        table.set_sort("disk")
        await pilot.pause()
        assert header(table)["rd"].plain == "Disk R▼"
        await pilot.resize_terminal(80, 12)
        await pilot.pause()
        assert header(table)["disk"].plain == "Disk▼"  # the merged column carries it


async def test_cursor_starts_on_the_top_row_then_follows_the_chosen_guest() -> None:
    app = WideApp()
    async with app.run_test(size=(180, 12)) as pilot:
        table = app.query_one(GuestTable)
        table.focus()
        fleet = Fleet()
        # Poll order is not name order: the top row is guest-1 after sorting.
        feed(table, fleet, [sample(5, 1.0), sample(3, 2.0)])
        feed(table, fleet, [sample(5, 1.0), sample(3, 2.0), sample(1, 3.0)])
        await pilot.pause()
        assert table.cursor_row == 0 and table.selected_sample().name == "guest-1"
        table.set_sort("cpu")
        await pilot.pause()
        assert table.cursor_row == 0 and table.selected_sample().name == "guest-1"
        await pilot.press("down")  # the user picks guest-3: it is followed from now on
        assert table.selected_sample().name == "guest-3"
        table.set_sort("name")
        await pilot.pause()
        assert table.selected_sample().name == "guest-3" and table.cursor_row == 1
        await pilot.press("end")
        assert table.selected_sample().name == "guest-5"
        await pilot.press("home")
        assert table.selected_sample().name == "guest-1" and table.cursor_visible()


async def test_selected_row_stays_on_screen() -> None:
    app = WideApp()
    async with app.run_test(size=(180, 8)) as pilot:  # header + a few rows
        table = app.query_one(GuestTable)
        table.focus()
        fleet = Fleet()
        feed(table, fleet, [sample(i, 1.0) for i in range(1, 21)])
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_visible() and table.cursor_row == 19
        table.scroll_to(y=0, animate=False)  # the mouse wheel, say
        await pilot.pause()
        await pilot.pause()
        assert table.cursor_visible()  # the cursor came along
        assert table.cursor_row in table.visible_rows() and table.cursor_row < 19


async def test_cells_numbers_right_aligned_cpu_coloured_markers_and_pending() -> None:
    app = WideApp()
    async with app.run_test(size=(180, 12)) as pilot:
        table = app.query_one(GuestTable)
        fleet = Fleet()
        usb = DomainInfo(
            "guest-2", sample(2, 0).uuid, 1, 1024, 1024, usb_hostdevs=(UsbHostdev(1, 2, 3, 4),)
        )
        tick = [sample(1, 95.0, rd_bps=2048.0), sample(2, 60.0), sample(3, 5.0)]
        feed(table, fleet, tick, info={usb.uuid: usb})
        await pilot.pause()
        row1, row2, row3 = (f"{HOST}/{sample(i, 0).uuid}" for i in (1, 2, 3))
        row1 = next(g.key.row for g in fleet.guests() if g.name == "guest-1")
        row2 = next(g.key.row for g in fleet.guests() if g.name == "guest-2")
        row3 = next(g.key.row for g in fleet.guests() if g.name == "guest-3")
        cpu1 = table.get_cell(row1, "cpu")
        assert isinstance(cpu1, Text) and cpu1.justify == "right" and "red" in str(cpu1.style)
        assert "yellow" in str(table.get_cell(row2, "cpu").style)
        assert str(table.get_cell(row3, "cpu").style) == ""
        rd = table.get_cell(row1, "rd")
        assert rd.plain == "2.0K/s" and rd.justify == "right"
        assert table.get_cell(row1, "name").justify == "left"
        name2 = table.get_cell(row2, "name")
        assert name2.plain.startswith("guest-2") and name2.plain.endswith(" " + USB_MARK[0])
        assert table.get_cell(row1, "name").plain == "guest-1"
        table.set_viewers({"guest-1"})
        await pilot.pause()
        assert table.get_cell(row1, "name").plain.endswith(" " + VIEWER_MARK[0])
        state_before = table.get_cell(row3, "state")
        key3 = next(g.key for g in fleet.guests() if g.name == "guest-3")
        table.sync(fleet, fleet.set_pending(key3, PENDING_SHUTDOWN, 60.0))
        assert table.get_cell(row3, "state").plain == "shutting down"
        assert table.get_cell(row3, "state") is not state_before
        # The guest stops: the poll clears the mark.
        feed(table, fleet, [sample(1, 95.0), sample(2, 60.0), sample(3, None, "shut off")])
        assert fleet.guest(key3).pending == ""
        assert table.get_cell(row3, "state").plain == "shut off"


async def test_unchanged_cells_keep_their_objects() -> None:
    app = WideApp()
    async with app.run_test(size=(180, 12)) as pilot:
        table = app.query_one(GuestTable)
        fleet = Fleet()
        feed(table, fleet, [sample(1, 10.0), sample(2, 20.0)])
        await pilot.pause()
        rows = list(table.rows)
        before = {(r, c): table.get_cell(r, c) for r in rows for c in header(table)}
        feed(table, fleet, [sample(1, 10.0), sample(2, 21.0)])
        await pilot.pause()
        changed = [k for k, v in before.items() if table.get_cell(*k) is not v]
        assert [c for _r, c in changed] == ["cpu", "cpuh"]
