"""SVG snapshots of the real screens (demo driver, injected fixed samples, frozen clock).

Update on purpose with: .venv/bin/pytest tests/snapshots --snapshot-update
"""

from __future__ import annotations

from tests.support import fixed
from tui.adapters.libvirt.connection import LinkState, demo_uri
from tui.adapters.libvirt.session import PollResult
from tui.ui import messages as m
from tui.ui.app import AppOptions, KvmDeckApp

SIZE = (170, 42)


def fixed_app() -> KvmDeckApp:
    return KvmDeckApp(
        AppOptions(
            uris=[demo_uri()], demo=True, live=False, vt_badge="KVM: PVM", host_labels=["demo-host"]
        )
    )


async def inject(pilot) -> None:  # type: ignore[no-untyped-def]
    app: KvmDeckApp = pilot.app
    while not app.sessions:  # the main screen starts the app's sources once it is mounted
        await pilot.pause(0.01)
    app.sessions[0].link.state = LinkState.UP
    session = app.sessions[0]
    for info in fixed.demo_domains():
        session.info[info.uuid] = info
    session.rates.history.update(fixed.histories())
    app.post_message(m.HostStats(fixed.host_sample()))
    app.post_message(m.GuestStats(0, PollResult(demo_uri(), fixed.guest_samples(), 0.001, 0)))
    await pilot.pause()
    app.log_event("web-frontend: started", wall=0.0, uuid=fixed.WEB_UUID)


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
    app.usb_screen.set_source("udev on this host", udev_running=False)
    app.usb_screen.set_devices(fixed.usb_devices())
    app.usb_screen.set_owners(by_address={(1, 4): "db-primary"}, by_ids={})


def test_usb_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=inject_usb, press=["u"])
