"""'Go to guest' on a guest the store has but the table has not drawn yet (polls render paced,
RENDER_GAP_S apart): the cursor, and so the next key, must be on that guest at once, not on the
guest it was on. The app runs with nothing live; the store is fed as the controllers would."""

from __future__ import annotations

from tests.support import fixed
from tests.support.apps import fixed_app
from tui.adapters.libvirt.connection import demo_uri
from tui.model.fleet import Change
from tui.model.host import PollResult
from tui.model.ids import GuestKey
from tui.model.link import LinkReport, LinkState


async def test_go_to_a_guest_not_drawn_yet_selects_it_at_once() -> None:
    app = fixed_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        host = app.host_order[0]
        fleet = app.fleet
        samples = fixed.guest_samples()
        app.changed(fleet.apply_link(host, LinkReport(demo_uri(), LinkState.UP)))
        fleet.apply_poll(host, 1, PollResult(demo_uri(), samples[:1], 0.001, 0))
        app.changed(Change(hosts=frozenset({host})))
        await pilot.pause()
        first = GuestKey(host, samples[0].uuid)
        assert app.table.selected_key() == first and app.table.row_count == 1
        # The next poll finds a second guest; its frame is paced (or at least a loop turn away).
        app.changed(fleet.apply_poll(host, 2, PollResult(demo_uri(), samples[:2], 0.001, 0)), True)
        new = GuestKey(host, samples[1].uuid)
        assert fleet.guest(new) is not None and not app.table.has_row(new.row)
        app.select_guest(new.row)
        assert app.table.selected_key() == new  # no pause: a key pressed now acts on it
        assert app.table.row_count == 2
