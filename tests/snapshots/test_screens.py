"""SVG snapshots of the real screens (demo driver, injected fixed samples, frozen clock).

Update on purpose with: .venv/bin/pytest tests/snapshots --snapshot-update
"""

from __future__ import annotations

from tests.support import fixed
from tui.adapters.libvirt.connection import demo_uri
from tui.cli.wiring import make_app
from tui.model.fleet import Change
from tui.model.host import PollResult
from tui.model.ids import GuestKey
from tui.model.link import LinkReport, LinkState
from tui.ui.app import AppOptions, KvmDeckApp

SIZE = (170, 42)


def fixed_app() -> KvmDeckApp:
    return make_app(
        AppOptions(
            uris=[demo_uri()], demo=True, live=False, vt_badge="KVM: PVM", host_labels=["demo-host"]
        )
    )


async def inject(pilot) -> None:  # type: ignore[no-untyped-def]
    """Apply fixed results to the app's store, as the controllers would."""
    app: KvmDeckApp = pilot.app
    while not app.controllers:  # the main screen starts the app's sources once it is mounted
        await pilot.pause(0.01)
    host = app.host_order[0]
    fleet = app.fleet
    app.changed(fleet.apply_link(host, LinkReport(demo_uri(), LinkState.UP)))
    app.changed(fleet.apply_host_sample(fixed.host_sample()))
    fleet.local_history.cpu.clear()  # no history yet, as after the first host sample
    info = {i.uuid: i for i in fixed.demo_domains()}
    result = PollResult(demo_uri(), fixed.guest_samples(), 0.001, 0, None, info)
    fleet.apply_poll(host, 1, result)
    for uuid, history in fixed.histories().items():
        guest = fleet.guest(GuestKey(host, uuid))
        if guest is not None:
            guest.history = history
    app.changed(Change(hosts=frozenset({host}), link=True))
    await pilot.pause()
    app.log_event("web-frontend: started", wall=0.0, key=GuestKey(host, fixed.WEB_UUID))
    await pilot.pause()


def test_main_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=inject)


def test_main_screen_sorted_by_cpu(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=inject, press=["P"])


def test_help_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=inject, press=["question_mark"])


def test_force_off_confirmation(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=inject, press=["X"])


def test_guest_detail(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=inject, press=["enter"])


async def inject_usb(pilot) -> None:  # type: ignore[no-untyped-def]
    await inject(pilot)
    app: KvmDeckApp = pilot.app
    app.usb.screen.set_source("udev on this host", udev_running=False)
    app.usb.screen.set_devices(fixed.usb_devices())
    app.usb.screen.set_owners(by_address={(1, 4): "db-primary"}, by_ids={})


def test_usb_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=inject_usb, press=["u"])
