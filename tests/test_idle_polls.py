"""Idle CPU with many hosts (issue 23): a poll that brings the same figures redoes no row.

50 hosts polled each second mostly bring the figures they brought a second ago (a shut-off or
paused guest, the test driver's guests). The fleet still takes the poll (the history gets its
point, the host its latency: the hosts screen and the detail graphs show them), but its Change
names the host as ``polled`` only: the guest table re-renders no row and the hosts bar recounts
nothing for it, unless the CPU-history column is on screen. A changed figure, a re-read XML or a
guest that came or went is a change of its rows, as before. Lifecycle events are not polls:
they change their row at once (tests/test_state_rules.py)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.model.domain import DomainInfo
from tui.model.fleet import Change, Fleet
from tui.model.guest import GuestSample
from tui.model.host import PollResult
from tui.model.ids import GuestKey, HostId
from tui.model.link import LinkReport, LinkState
from tui.ui.widgets.guest_table import GuestTable

HOST = HostId("test:///default")


def sample(i: int, cpu: float | None) -> GuestSample:
    return GuestSample(
        name=f"guest-{i}",
        uuid=f"00000000-0000-0000-0000-{i:012d}",
        state="running",
        state_code=1,
        reason=0,
        vcpus=1,
        cpu_pct=cpu,
        uptime_s=100.0 + i,
    )


def key(i: int) -> GuestKey:
    return GuestKey(HOST, sample(i, None).uuid)


def poll(
    fleet: Fleet, cpus: list[float | None], info: dict[str, DomainInfo] | None = None
) -> Change:
    """One poll as the app applies it: new sample objects each time, as a real poll makes."""
    if HOST not in fleet.hosts:
        fleet.add_host(HOST, "h")
        fleet.apply_link(HOST, LinkReport(HOST.uri, LinkState.UP))
    seq = fleet.host(HOST).seq + 1
    samples = [sample(i, cpu) for i, cpu in enumerate(cpus)]
    return fleet.apply_poll(HOST, seq, PollResult(HOST.uri, samples, 0.004, 0, None, info or {}))


def test_a_poll_with_the_same_figures_changes_no_row_but_is_taken() -> None:
    fleet = Fleet()
    first = poll(fleet, [10.0, None])
    assert first.added == {key(0), key(1)} and first.hosts == {HOST}
    same = poll(fleet, [10.0, None])
    assert same.polled == {HOST} and not (same.hosts or same.changed or same.added)
    assert same  # the fleet did change: a history point, the poll's latency
    assert fleet.host(HOST).polls == 2 and len(fleet.guest(key(0)).history.cpu) == 2  # type: ignore[union-attr]
    moved = poll(fleet, [12.5, None])
    assert moved.changed == {key(0)} and moved.hosts == {HOST}
    # The XML re-read (an edit, a device event): the row's facts changed, not its figures.
    uuid1 = sample(1, None).uuid
    info = DomainInfo(name="guest-1", uuid=uuid1, vcpus=4, max_mem_kib=1024, cur_mem_kib=1024)
    reread = poll(fleet, [12.5, None], info={sample(1, None).uuid: info})
    assert reread.changed == {key(1)}
    assert poll(fleet, [12.5, None], info={sample(1, None).uuid: info}).polled == {HOST}
    gone = poll(fleet, [12.5])
    assert gone.removed == {key(1)} and gone.hosts == {HOST}


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield GuestTable(id="t")


async def test_the_table_redoes_no_row_for_a_poll_with_the_same_figures() -> None:
    for width, history_shown in ((120, False), (180, True)):
        app = TableApp()
        async with app.run_test(size=(width, 12)) as pilot:
            table = app.query_one(GuestTable)
            assert ("cpuhist" in table.column_keys) is history_shown
            fleet = Fleet()
            table.sync(fleet, poll(fleet, [10.0, 20.0]))
            await pilot.pause()
            before = table.row_renders
            table.sync(fleet, poll(fleet, [10.0, 20.0]))
            await pilot.pause()
            # Without the CPU-history column nothing on a row moved: no row is rendered again.
            # With it, each running guest's sparkline got its point: both rows are.
            assert table.row_renders - before == (2 if history_shown else 0), width
            before = table.row_renders
            table.sync(fleet, poll(fleet, [11.0, 20.0]))
            await pilot.pause()
            assert table.row_renders - before >= 1  # guest-0's CPU% moved: its row is redone
