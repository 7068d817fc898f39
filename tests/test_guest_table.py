"""GuestTable's incremental updates: row-only repaints and the per-cell render cache.

The table must look exactly like a table filled in one go, and survive re-sorts after ticks
that left some cells unchanged (sorting finds rows by their state cell's identity).
"""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.model.fleet import Fleet
from tui.model.guest import GuestSample
from tui.model.host import PollResult
from tui.model.ids import HostId
from tui.model.link import LinkReport, LinkState
from tui.model.rates import History
from tui.ui.widgets.guest_table import GuestTable

HOST = HostId("test:///default")


def sample(i: int, cpu: float | None, state: str = "running") -> GuestSample:
    return GuestSample(
        name=f"guest-{i}",
        uuid=f"00000000-0000-0000-0000-{i:012d}",
        state=state,
        state_code=1 if state == "running" else 5,
        reason=0,
        vcpus=1,
        cpu_pct=cpu,
        cpu_host_pct=None if cpu is None else cpu / 2,
        uptime_s=100.0 + i,
    )


def feed(table: GuestTable, fleet: Fleet, tick: list[GuestSample]) -> None:
    """One poll through the store, as the app applies it; no history (sparklines empty)."""
    if HOST not in fleet.hosts:
        fleet.add_host(HOST, "h")
        fleet.apply_link(HOST, LinkReport(HOST.uri, LinkState.UP))
    seq = fleet.host(HOST).seq + 1
    change = fleet.apply_poll(HOST, seq, PollResult(HOST.uri, tick, 0.0, 0))
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
    async with updated.run_test(size=(140, 12)) as pilot:
        table = updated.query_one(GuestTable)
        fleet = Fleet()
        for tick in ticks:
            feed(table, fleet, tick)
            await pilot.pause()
        got = lines(table, 5)
        renders_after_ticks = table.cell_renders
    async with fresh.run_test(size=(140, 12)) as pilot:
        table = fresh.query_one(GuestTable)
        feed(table, Fleet(), ticks[-1])
        await pilot.pause()
        want = lines(table, 5)
    assert got == want
    assert renders_after_ticks > 0


async def test_unchanged_cells_are_not_rendered_again() -> None:
    app = TableApp()
    async with app.run_test(size=(140, 12)) as pilot:
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
    async with app.run_test(size=(140, 12)) as pilot:
        table = app.query_one(GuestTable)
        fleet = Fleet()
        feed(table, fleet, [sample(2, 1.0), sample(1, 2.0)])
        feed(table, fleet, [sample(2, 3.0), sample(1, 4.0)])  # equal state Texts
        feed(table, fleet, [sample(2, 3.0), sample(1, 4.0), sample(3, 0.5)])
        table.set_sort("cpu")  # used to raise KeyError: the state cell's id was stale
        await pilot.pause()
        order = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert order == ["guest-1", "guest-2", "guest-3"]
