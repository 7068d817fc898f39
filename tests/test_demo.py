"""Demo mode as a showcase: the test driver's guests with moving figures and history,
simulated USB plugging, and a simulated attach and detach, every simulated result marked."""

from __future__ import annotations

from tests.support.apps import app_until, demo_app
from tui.adapters.demo.host import GuestSimulator
from tui.adapters.demo.usb import DEMO_MARK, DemoUsbFeed
from tui.model.guest import GuestSample, GuestState
from tui.ui.screens.picker import GuestPicker
from tui.ui.screens.usb import UsbScreen

RUNNING = {"web-frontend", "db-primary", "router-lab"}


def _sample(uuid: str, state: GuestState, vcpus: int = 2) -> GuestSample:
    return GuestSample(
        "g", uuid, state.label, int(state), 1, vcpus=vcpus, mem_max_kib=2 * 1024 * 1024
    )


def test_simulator_is_seeded_and_fills_running_guests_only() -> None:
    def run(seed: int) -> list[list[GuestSample]]:
        sim = GuestSimulator(seed, host_cpus=8, clock=lambda: 1000.0)
        rows = [_sample("a", GuestState.RUNNING), _sample("b", GuestState.SHUTOFF)]
        return [sim.fill(rows, {}) for _ in range(5)]

    first, again, other = run(7), run(7), run(8)
    assert first == again  # same seed, same figures
    assert first != other
    for tick in first:
        running, off = tick
        assert running.cpu_pct is not None and 0 <= running.cpu_pct <= 100
        assert running.cpu_host_pct is not None and running.cpu_host_pct <= running.cpu_pct
        assert running.rss_kib and running.guest_used_kib and running.mem_cur_kib
        assert running.rss_kib <= running.mem_cur_kib
        assert running.rd_bps is not None and running.rx_bps is not None
        assert running.uptime_s is not None and running.uptime_s > 0
        assert off.cpu_pct is None and off.rss_kib is None and off.uptime_s is None
    assert len({t[0].cpu_pct for t in first}) > 1  # it moves


def test_simulator_paused_guest_keeps_memory_and_stands_still() -> None:
    sim = GuestSimulator(1, clock=lambda: 50.0)
    paused = sim.fill([_sample("p", GuestState.PAUSED)], {})[0]
    assert paused.cpu_pct == 0.0 and paused.rx_bps == 0.0 and paused.rss_kib


def test_a_guest_started_in_the_session_starts_its_uptime_at_zero() -> None:
    now = [100.0]
    sim = GuestSimulator(1, clock=lambda: now[0])
    sim.fill([_sample("x", GuestState.SHUTOFF)], {})
    now[0] = 130.0
    started = sim.fill([_sample("x", GuestState.RUNNING)], {})[0]
    assert started.uptime_s == 0.0


async def test_demo_shows_moving_stats_and_history() -> None:
    app = demo_app(refresh=0.25)
    async with app.run_test(size=(120, 40)) as pilot:
        host = app.host_order[0]

        def polls() -> int:
            return app.fleet.host(host).polls

        await app_until(pilot, lambda: polls() >= 2, "two ticks", 10.0)
        guests = {g.name: g for g in app.fleet.guests()}
        for name in RUNNING:
            assert guests[name].sample.cpu_pct is not None, name
            cell = str(app.table.get_cell(guests[name].key.row, "cpu"))
            assert cell.strip() not in ("", "—"), (name, cell)
        for name in ("archive", "win11-desktop"):
            assert guests[name].sample.cpu_pct is None
        await app_until(pilot, lambda: polls() >= 5, "five ticks", 10.0)
        for name in RUNNING:
            history = list(guests[name].history.cpu)
            assert len(history) >= 5 and len(set(history)) > 1, (name, history)
        # The host panel shows this machine (real figures) and never wraps.
        panel = app.screen.query_one("#host-panel")
        lines = [line.plain for line in panel._lines(panel.size.width)]  # type: ignore[attr-defined]
        assert lines and all(len(line) <= panel.size.width for line in lines)


async def test_demo_usb_plug_attach_detach() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app_until(
            pilot, lambda: app.usb is not None and app.usb.coordinator.started, "USB", 10.0
        )
        await app_until(
            pilot, lambda: isinstance(app.usb.remote_feed, DemoUsbFeed), "demo feed", 10.0
        )
        feed: DemoUsbFeed = app.usb.remote_feed
        await pilot.press("u")
        screen: UsbScreen = app.usb.screen
        await app_until(pilot, lambda: screen.table.row_count >= 3, "the demo's devices", 10.0)
        table = screen.table

        def serial_row() -> str | None:
            return next((k for k in table.shown_keys if table.devices[k].ids == "0403:6001"), None)

        assert serial_row() is not None
        # The simulated unplug, then the replug with a new device number.
        gone = feed.step()
        assert gone is not None and gone.action == "remove"
        await app_until(pilot, lambda: serial_row() is None, "the unplug on screen", 10.0)
        back = feed.step()
        assert back is not None and back.action == "add"
        assert back.device is not None and back.device.devnum != gone.device.devnum  # type: ignore[union-attr]
        await app_until(pilot, lambda: serial_row() is not None, "the replug on screen", 10.0)
        log = "\n".join(app.fleet.events)
        assert "USB remove:" in log and "USB add:" in log and DEMO_MARK.strip() in log

        # Attach the serial adapter to web-frontend: a (simulated) success.
        key = serial_row()
        table.move_cursor(row=table.get_row_index(key), animate=False)
        await pilot.press("a")
        await app_until(pilot, lambda: isinstance(app.screen, GuestPicker), "the picker", 10.0)
        names = [n for n, _ in app.screen.guests]  # type: ignore[attr-defined]
        for _ in range(names.index("web-frontend")):
            await pilot.press("down")
        await pilot.press("enter")
        await app_until(
            pilot, lambda: table.owner_of(table.devices[key]) == "web-frontend", "owner", 10.0
        )
        owner_cell = str(table.get_row(key)[-1])
        assert "web-frontend" in owner_cell
        log = "\n".join(app.fleet.events)
        assert "ok (live)" in log and "simulated (demo)" in log

        # Detach it again.
        await pilot.press("d")
        await app_until(pilot, lambda: not table.owner_of(table.devices[key]), "no owner", 10.0)
        log = "\n".join(app.fleet.events)
        assert log.count("simulated (demo)") >= 2
