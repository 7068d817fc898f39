"""Guest addresses end to end on libvirt's test driver (``test:///default`` makes up one
address per interface for every source): the IP column, the detail screen's box, the lane."""

from __future__ import annotations

from tests.support.apps import app_until
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions

TEST_URI = "test:///default"


async def test_test_driver_addresses_in_the_table_and_the_detail() -> None:
    from tui.ui.screens.detail import GuestDetailScreen

    app = make_app(AppOptions(uris=[TEST_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(200, 50)) as pilot:
        g = await app_until(
            pilot,
            lambda: next((g for g in app.fleet.guests() if g.addresses), None),
            "a guest with addresses",
            30,
            step=0.1,
        )
        assert g.sample.running
        first = g.addresses[0]
        assert (first.addr, first.prefix, first.source) == ("192.168.122.3", 24, "agent")
        assert "ip" in [c.key for c in app.table.shown]
        await app_until(
            pilot,
            lambda: "192.168.122.3" in str(app.table.get_cell(g.key.row, "ip")),
            "the IP column",
            10,
            step=0.1,
        )
        off = [x for x in app.fleet.guests() if not x.sample.active]
        assert all(not x.addresses for x in off)  # only running guests are asked
        app.select_guest(g.key.row)
        await pilot.press("enter")
        detail = await app_until(
            pilot, lambda: isinstance(app.screen, GuestDetailScreen) and app.screen, "the detail"
        )
        box = detail.query_one("#guest-addresses")
        text = await app_until(
            pilot, lambda: "192.168.122.3" in str(box.content) and str(box.content), "addresses"
        )
        assert "192.168.122.3/24" in text and "testnet0" in text and "from agent" in text
        ctl = next(iter(app.controllers.values()))
        assert ctl.addr_lane.max_concurrent == 1
    # At 120 columns the IP column is the first to go.
    app = make_app(AppOptions(uris=[TEST_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        assert "ip" not in [c.key for c in app.table.shown]
