"""Guest addresses end to end on libvirt's test driver (``test:///default`` makes up one
address per interface for every source): the IP column, the detail screen's box, the lane."""

from __future__ import annotations

from typing import Any

from tui.cli.wiring import make_app
from tui.ui.app import AppOptions

TEST_URI = "test:///default"


async def wait_until(pilot: Any, pred: Any, deadline_s: float, what: str) -> Any:
    for _ in range(int(deadline_s / 0.1)):
        value = pred()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


async def test_test_driver_addresses_in_the_table_and_the_detail() -> None:
    from tui.ui.screens.detail import GuestDetailScreen

    app = make_app(AppOptions(uris=[TEST_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(200, 50)) as pilot:
        g = await wait_until(
            pilot,
            lambda: next((g for g in app.fleet.guests() if g.addresses), None),
            30,
            "a guest with addresses",
        )
        assert g.sample.running
        first = g.addresses[0]
        assert (first.addr, first.prefix, first.source) == ("192.168.122.3", 24, "agent")
        assert "ip" in [c.key for c in app.table.shown]
        await wait_until(
            pilot,
            lambda: "192.168.122.3" in str(app.table.get_cell(g.key.row, "ip")),
            10,
            "the IP column",
        )
        off = [x for x in app.fleet.guests() if not x.sample.active]
        assert all(not x.addresses for x in off)  # only running guests are asked
        app.select_guest(g.key.row)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, GuestDetailScreen)
        text = str(app.screen.query_one("#guest-addresses").content)  # type: ignore[attr-defined]
        assert "192.168.122.3/24" in text and "testnet0" in text and "from agent" in text
        ctl = next(iter(app.controllers.values()))
        assert ctl.addr_lane.max_concurrent == 1
    # At 120 columns the IP column is the first to go.
    app = make_app(AppOptions(uris=[TEST_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        assert "ip" not in [c.key for c in app.table.shown]
