"""A fleet an operator can read (issue 23), in Pilot on the fleet test bed: libvirt's test driver
with one node XML per host (``testbed/fleet.py``), down hosts (nothing listens) and a hung
host (a loopback listener that accepts and never answers). Nothing is faked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.fleet import Fleet, guest_name, make_fleet
from tests.support.apps import drawn
from tui.cli.wiring import make_app
from tui.config import HostEntry, Settings
from tui.model.ids import HostId, short_uri
from tui.model.link import LinkState
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.hosts import HostsScreen
from tui.ui.widgets.guest_columns import layout
from tui.ui.widgets.guest_filter import parse_filter


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Fleet]:
    fleet = make_fleet(tmp_path / "fleet", hosts=3, guests=6, down=1)
    yield fleet
    fleet.close()


def fleet_app(fleet: Fleet, **kw: object) -> KvmDeckApp:
    hosts = tuple(HostEntry(uri=u, name=n) for u, n in zip(fleet.uris, fleet.names, strict=True))
    return make_app(
        AppOptions(
            uris=list(fleet.uris), settings=Settings(hosts=hosts), vt_badge="KVM: test", **kw
        )  # type: ignore[arg-type]
    )


async def until(pilot, what: str, pred: Callable[[], bool], tries: int = 200) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if pred():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def polled_and_drawn(pilot, app: KvmDeckApp, n: int) -> None:  # type: ignore[no-untyped-def]
    """``n`` hosts polled (the store), and the frame that draws them on screen: polls render
    paced, so a fixed pause after the poll is too short on a loaded machine."""
    await until(pilot, f"{n} hosts polled", lambda: polled(app, n))
    await drawn(pilot, f"the frame with {n} hosts' polls")


def polled(app: KvmDeckApp, n: int) -> bool:
    return sum(1 for h in app.fleet.hosts.values() if h.polls) >= n


def row_names(app: KvmDeckApp) -> list[str]:
    return [app.table.get_cell(r, "name").plain.removeprefix("▶ ") for r in app.table.rows]


def state_of(app: KvmDeckApp, name: str) -> str:
    g = app.fleet.find(name)
    assert g is not None, name
    return g.sample.state


# -- host identity --------------------------------------------------------------------------
def test_short_uri_never_shows_the_query_or_a_key_path() -> None:
    ssh = "qemu+ssh://root@10.0.0.7:2222/system?keyfile=/home/op/.ssh/id&no_verify=1"
    assert short_uri(ssh) == "root@10.0.0.7:2222"
    assert short_uri("qemu+ssh://kvm1.example/system") == "kvm1.example"
    assert short_uri("qemu:///system") == "qemu:///system"
    assert short_uri("test:///srv/bed/host07.xml") == "test:host07"
    assert short_uri("qemu+tcp://127.0.0.1:16509/system") == "qemu:127.0.0.1:16509"
    assert short_uri(None) == "libvirt default"
    assert "keyfile" not in HostId(ssh).short


def test_the_host_column_narrows_and_never_goes() -> None:
    for width in (200, 120, 100, 80, 60):
        keys = [s.key for s in layout(width, show_host=True)]
        assert "host" in keys, width
    assert "host" not in [s.key for s in layout(80, show_host=False)]


def test_filter_words() -> None:
    labels = {HostId("a"): "kvm1", HostId("b"): "kvm10", HostId("c"): "lab a"}
    assert parse_filter("web", labels) == ("web", set(labels))
    assert parse_filter("host:kvm1 web", labels) == ("web", {HostId("a")})  # exact label wins
    assert parse_filter("host:kvm", labels)[1] == {HostId("a"), HostId("b")}
    assert parse_filter('host:"lab a"', labels)[1] == {HostId("c")}


async def test_labels_are_config_names_and_rows_name_their_host(bed: Fleet) -> None:
    app = fleet_app(bed)
    async with app.run_test(size=(80, 24)) as pilot:
        await polled_and_drawn(pilot, app, 3)
        labels = [h.label for h in app.fleet.hosts.values()]
        assert labels == bed.names  # not libvirt's hostname ("vm" for every test host)
        assert "host" in app.table.column_keys  # at 80 columns too
        top = app.table.rows[0]
        g = app.fleet.guest(app.table.selected_key())  # type: ignore[arg-type]
        assert g is not None
        assert app.table.get_cell(top, "host").plain == app.fleet.host(g.key.host).label
        bar = str(app.query_one("#hosts").content)
        assert "DEMO" not in bar  # a down qemu+tcp host beside the test hosts: not a demo
        assert "4 hosts" in bar and "3 up" in bar  # one summary line
        assert "?" not in bar.split("\n")[1]  # no URI query anywhere
        await pilot.press("enter")
        title = f"on {app.fleet.host(g.key.host).label}"
        await until(
            pilot, "the detail", lambda: title in str(getattr(app.screen, "title_text", ""))
        )


async def test_demo_banner_only_when_every_host_is_the_test_driver(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path / "f", hosts=2, guests=2)
    app = fleet_app(fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        await polled_and_drawn(pilot, app, 2)
        assert "DEMO" in str(app.query_one("#hosts").content)


# -- the guest table across hosts ---------------------------------------------------------
async def test_sort_by_host_and_filter_by_host(bed: Fleet) -> None:
    app = fleet_app(bed)
    async with app.run_test(size=(120, 40)) as pilot:
        await polled_and_drawn(pilot, app, 3)
        await pilot.press("O")
        await until(pilot, "sorted by host", lambda: app.table.sort_key == "host")
        await drawn(pilot)
        hosts = [app.table.get_cell(r, "host").plain for r in app.table.rows]
        assert hosts == sorted(hosts)
        first = hosts[0]
        await pilot.press("O")  # again: reversed
        await until(
            pilot, "reversed", lambda: app.table.get_cell(app.table.rows[0], "host").plain != first
        )
        hosts = [app.table.get_cell(r, "host").plain for r in app.table.rows]
        assert hosts == sorted(hosts, reverse=True)
        await pilot.press("slash", *"host:kvm01", "enter")
        await until(
            pilot, "kvm01's rows only", lambda: all(n.startswith("h01-") for n in row_names(app))
        )
        names = row_names(app)
        assert names and all(n.startswith("h01-") for n in names)
        assert len(names) == 6


# -- the hosts area and the hosts screen ----------------------------------------------------
async def test_fifty_hosts_leave_twelve_guest_rows_at_80x24(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path / "f", hosts=50, guests=20, down=2, hung=1)
    try:
        app = fleet_app(fleet)
        async with app.run_test(size=(80, 24)) as pilot:
            await polled_and_drawn(pilot, app, 50)
            assert app.table.row_count == 1000
            assert len(app.table.visible_rows()) >= 12
            bar = str(app.query_one("#hosts").content)
            assert bar.count("\n") == 1  # the title line and one summary line
            assert "53 hosts" in bar
    finally:
        fleet.close()


async def test_hosts_screen_lists_causes_reconnects_and_filters(bed: Fleet) -> None:
    app = fleet_app(bed)
    async with app.run_test(size=(120, 40)) as pilot:
        await polled_and_drawn(pilot, app, 3)
        down = HostId(bed.uris[3])
        await until(pilot, "the down host", lambda: app.fleet.host(down).report is not None)
        await drawn(pilot)
        await pilot.press("H")
        await until(pilot, "the hosts screen", lambda: isinstance(app.screen, HostsScreen))
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        table = screen.query_one("DataTable")
        assert table.row_count == 4  # type: ignore[attr-defined]
        row = [c.plain for c in screen._rows[bed.uris[0]]]
        assert (row[0] == "kvm00" and row[1] == "up" and row[2] == "4/6") or row[2].endswith("/6")
        assert row[5].endswith("ms")  # the last poll's latency
        down_row = [c.plain for c in screen._rows[bed.uris[3]]]
        assert down_row[0] == "down00" and "libvirtd" in down_row[1]
        for _ in range(3):
            await pilot.press("down")
        cause_box = screen.query_one("#hosts-cause")
        await until(pilot, "down00's cause", lambda: "down00" in str(cause_box.content))  # type: ignore[attr-defined]
        cause = str(cause_box.content)  # type: ignore[attr-defined]
        assert "down00" in cause and "fix:" in cause
        attempts = app.controllers[down].generation
        await pilot.press("r")
        await until(pilot, "a new attempt", lambda: app.controllers[down].generation > attempts)
        assert app.fleet.host(down).state is not LinkState.UP
        await pilot.press("up", "g")  # kvm02's guests only
        await until(pilot, "back on the guests", lambda: not isinstance(app.screen, HostsScreen))
        assert app.table.name_filter == "host:kvm02"
        await until(pilot, "kvm02's rows", lambda: set(n[:3] for n in row_names(app)) == {"h02"})


# -- marks and bulk actions ------------------------------------------------------------------
async def test_marks_and_bulk_pause_refuse_per_guest_across_hosts(bed: Fleet) -> None:
    app = fleet_app(bed)
    async with app.run_test(size=(120, 40)) as pilot:
        await polled_and_drawn(pilot, app, 3)
        await pilot.press("slash", *"vm00", "enter")  # h00-vm00, h01-vm00, h02-vm00
        want = [guest_name(h, 0) for h in range(3)]
        await until(pilot, "the vm00 rows", lambda: row_names(app) == want)
        shown = row_names(app)
        await pilot.press("A")
        await until(pilot, "3 marks", lambda: len(app.table.marks) == 3)
        await drawn(pilot)
        assert all(app.table.get_cell(r, "name").plain.startswith("▶ ") for r in app.table.rows)
        states = {n: state_of(app, n) for n in shown}
        await pilot.press("p")
        await until(pilot, "the question", lambda: isinstance(app.screen, ConfirmScreen))
        assert isinstance(app.screen, ConfirmScreen)
        question = app.screen.question
        acting = [n for n, s in states.items() if s in ("running", "paused")]
        assert f"{len(acting)} marked guest" in question
        assert "on 2 hosts" in question or len({n[:3] for n in acting}) < 2
        # Every toast as it is made: one shown for 8 s can be gone (expired) by the time the
        # loop below has seen every guest's new state on a loaded machine.
        toasts: list[tuple[str, str]] = []
        real_notify = app.notify

        def notify(message: str, **kw: Any) -> None:
            toasts.append((str(kw.get("title", "")), message))
            real_notify(message, **kw)

        app.notify = notify  # type: ignore[method-assign]
        await pilot.press("y")
        for n, s in states.items():
            want = {"running": "paused", "paused": "running"}.get(s, s)
            await until(pilot, f"{n} {want}", lambda n=n, want=want: state_of(app, n) == want)
        # One toast sums the batch up; each guest's result is its own event-log line.
        summary = ("Pause / resume guests", f"{len(acting)} done.")
        try:
            await until(pilot, "the batch's toast", lambda: summary in toasts)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {summary} not in {toasts}") from None
        results = [line for line in app.fleet.events if any(f" {n}" in line for n in acting)]
        assert len([line for line in results if "refused" not in line]) >= len(acting)
        refused = [line for line in app.fleet.events if "refused guest.pause" in line]
        off = [n for n, s in states.items() if s == "shut off"]
        assert len(refused) == len(off)
        for n in off:
            assert any(f"{n} is shut off" in line for line in refused)  # not "paused"
        await pilot.press("U")
        await pilot.pause()
        assert not app.table.marks


async def test_space_marks_and_moves_down_and_bulk_start(bed: Fleet) -> None:
    app = fleet_app(bed)
    async with app.run_test(size=(120, 40)) as pilot:
        await polled_and_drawn(pilot, app, 3)
        await pilot.press("slash", *"host:kvm00", "enter")
        await until(
            pilot,
            "kvm00's rows only",
            lambda: row_names(app) != [] and all(n.startswith("h00-") for n in row_names(app)),
        )
        first, second = app.table.rows[:2]
        await pilot.press("space", "space")
        await pilot.pause()
        assert {k.row for k in app.table.marks} == {first, second}
        assert app.table.cursor_row == 2
        await pilot.press("space")  # a third one, then unmark it again
        await pilot.press("up", "space")
        assert len(app.table.marks) == 2
        names = [app.fleet.guest(k).name for k in app.table.marks]  # type: ignore[union-attr]
        await pilot.press("s")
        await pilot.pause()
        if isinstance(app.screen, ConfirmScreen):  # some of them were off
            await pilot.press("y")
        for n in names:
            await until(
                pilot, f"{n} running", lambda n=n: state_of(app, n) in ("running", "paused")
            )


async def test_bulk_actions_are_refused_read_only(bed: Fleet) -> None:
    app = fleet_app(bed, readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await polled_and_drawn(pilot, app, 3)
        await pilot.press("A", "X")
        await until(
            pilot,
            "the refusal",
            lambda: any("refused guest.destroy" in line for line in app.fleet.events),
        )
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("Z")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)


def test_the_summary_lines_guest_counts_follow_each_hosts_change() -> None:
    """GuestCounts recounts only the hosts a change names, and agrees with a full count."""
    from tui.model.fleet import Fleet as Store
    from tui.model.guest import GuestSample
    from tui.model.host import PollResult
    from tui.model.link import LinkReport
    from tui.ui.widgets.hosts_bar import GuestCounts, summary_line

    def sample(name: str, running: bool) -> GuestSample:
        return GuestSample(
            name, f"u-{name}", "running" if running else "shut off", 1 if running else 5, 1
        )

    store = Store()
    a, b = HostId("test:///a.xml"), HostId("test:///b.xml")
    for h in (a, b):
        store.add_host(h, h.short)
        store.apply_link(h, LinkReport(h.uri, LinkState.UP))
    counts = GuestCounts()
    store.apply_poll(a, 1, PollResult(a.uri, [sample("a1", True), sample("a2", False)], 0.0, 0))
    store.apply_poll(b, 1, PollResult(b.uri, [sample("b1", True)], 0.0, 0))
    assert counts.update(store) == (2, 3)
    change = store.apply_poll(
        a, 2, PollResult(a.uri, [sample("a1", True), sample("a2", True)], 0.0, 0)
    )
    assert counts.update(store, change.hosts) == (3, 3)
    assert counts.update(store, frozenset()) == (3, 3)  # nothing changed: the kept counts
    hosts = list(store.hosts.values())
    assert summary_line(hosts, guests=counts.update(store)).plain == summary_line(hosts).plain
    assert "3/3 guests running" in summary_line(hosts).plain
