"""The USB screen in the app: a libvirt host's USB list follows node-device events and the rule
engine is told what is present (demo and "remote" alike); ``w``, the USB doctor.

The "remote" host here is libvirt's test driver without --demo: the app reads its USB from
node devices exactly as for qemu+ssh:// (RemoteUsbFeed, LibvirtHostdev). Its USB devices
cannot be created or destroyed, so the lifecycle callback is driven with its real device
objects; the lab plugs real devices (see the USB lab).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import libvirt
import pytest
from textual.widgets import Static

from tests.support.apps import app_until
from tui.adapters.libvirt.connection import demo_uri
from tui.adapters.libvirt.families import LibvirtUsb
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.nodedev import RemoteUsbFeed
from tui.cli.wiring import make_app
from tui.model.display import Level
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.usb import UsbScreen
from tui.ui.screens.usb_doctor import UsbDoctorScreen, findings_text

RULES = """[[rule]]
vendor = "0781"
product = "5581"
guest = "web-frontend"
"""
ABSENT = "device not plugged in"


@pytest.fixture()
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Rules in a config dir of the test's own (never the user's)."""
    (tmp_path / "kvmdeck").mkdir()
    (tmp_path / "kvmdeck" / "rules.toml").write_text(RULES)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    yield tmp_path


def _status(app: KvmDeckApp) -> str:
    return "\n".join(app.usb.coordinator.status_lines())


async def test_remote_host_usb_follows_node_device_events(config_home: Path) -> None:
    app = make_app(AppOptions(uris=[demo_uri()], demo=False, vt_badge="KVM: test"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app_until(
            pilot, lambda: app.usb and app.usb.coordinator.started, "the first pass", 20.0
        )
        usb = app.usb
        feed = usb.remote_feed
        assert isinstance(feed, RemoteUsbFeed) and feed.watch is not None
        assert feed.watch.mode == "events"

        def engine_devices() -> set[str]:  # what the rule engine was told is present
            engine = usb.coordinator.engine
            return set(engine.devices) if engine is not None else set()

        assert engine_devices() == {"usb1", "usb_1_4", "usb_1_5", "usb_2_3"}
        await app_until(
            pilot, lambda: ABSENT not in _status(app), "the rule seeing its device", 20.0
        )
        conn = feed.conn
        stick = conn.nodeDeviceLookupByName("usb_1_5")

        feed.watch._on_lifecycle(conn, stick, libvirt.VIR_NODE_DEVICE_EVENT_DELETED, 0, None)
        await app_until(
            pilot, lambda: "usb_1_5" not in engine_devices(), "the unplug in the engine", 20.0
        )
        assert ABSENT in _status(app)
        assert "usb_1_5" not in usb.screen.table.devices
        feed.watch._on_lifecycle(conn, stick, libvirt.VIR_NODE_DEVICE_EVENT_CREATED, 0, None)
        await app_until(
            pilot, lambda: "usb_1_5" in engine_devices(), "the plug in the engine", 20.0
        )
        await app_until(pilot, lambda: ABSENT not in _status(app), "the rule seeing it again", 20.0)
        assert "usb_1_5" in usb.screen.table.devices
        log = "\n".join(app.fleet.events)
        assert "USB remove: SanDisk Corp. Ultra" in log and "USB add: SanDisk Corp. Ultra" in log

        # A reconnect (a new connection, as the controller makes): a new watch lists again;
        # the old one is silenced. (The same connection again would race the old watch's
        # deregistration in its thread: libvirt refuses a second identical registration.)
        old = feed
        again = libvirt.open(demo_uri())
        try:
            link = SimpleNamespace(  # a LibvirtHost's: the test closes ``again`` itself
                uri=demo_uri(),
                readonly=False,
                conn=again,
                using=fixed(again),
                add_release=lambda _release: True,
            )
            usb.host_connected(0, LibvirtUsb(link), "again")
            await app_until(
                pilot, lambda: usb.remote_feed is not old and usb.remote_feed.watch, "new", 20.0
            )
            await app_until(
                pilot, lambda: len(usb.remote_feed.devices()) == 4, "the new list", 20.0
            )
            assert usb.remote_feed.watch.mode == "events" and old.devices() == []
            assert old.watch is not None and old.watch._halted.is_set()
        finally:
            usb.remote_feed.stop()
            again.close()


async def _open_doctor(pilot: Any, app: KvmDeckApp, key: str) -> UsbDoctorScreen:
    screen: UsbScreen = app.usb.screen
    table = screen.table
    await app_until(pilot, lambda: key in table.shown_keys, key, 20.0)
    table.move_cursor(row=table.get_row_index(key), animate=False)
    await pilot.press("w")
    await app_until(pilot, lambda: isinstance(app.screen, UsbDoctorScreen), "the doctor", 20.0)
    doctor = app.screen
    assert isinstance(doctor, UsbDoctorScreen)
    await app_until(pilot, lambda: doctor.findings is not None, "the findings", 20.0)
    await pilot.pause()
    return doctor


async def test_demo_usb_doctor_for_the_selected_device(config_home: Path) -> None:
    app = make_app(AppOptions(uris=[demo_uri()], demo=True, vt_badge="KVM: test", readonly=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await app_until(pilot, lambda: app.usb and app.usb.coordinator.started, "USB", 20.0)
        await pilot.press("u")
        # The Logitech receiver: db-primary holds it (the demo's XML), the rule names another.
        await app_until(pilot, lambda: app.usb.coordinator.owners.entries, "the owners", 20.0)
        doctor = await _open_doctor(pilot, app, "usb_1_4")
        assert doctor.device.ids == "046d:c52b"
        found = {f.name: f for f in doctor.findings or []}
        assert found["Held by"].status is Level.WARN and "'db-primary'" in found["Held by"].detail
        assert found["USB controller"].status is Level.OK
        assert "480 Mbit/s from bus 1's root hub" in found["USB controller"].detail
        assert "simulated" in found["Host checks"].detail
        shown = str(doctor.query_one("#usb-doctor-findings .verdict", Static).render())
        assert "attached live to 'db-primary'" in findings_text(doctor.findings or []).plain
        assert shown  # painted
        assert doctor.query_one("#usb-doctor-scroll").region.bottom <= 23  # fits 80x24
        await pilot.press("escape")
        await app_until(
            pilot, lambda: isinstance(app.screen, UsbScreen), "back on the USB screen", 20.0
        )

        # The SanDisk stick: the rule's guest has xhci; nothing in the way.
        doctor = await _open_doctor(pilot, app, "usb_1_5")
        found = {f.name: f for f in doctor.findings or []}
        assert found["Held by"].status is Level.OK
        assert "the rule's guest 'web-frontend'" in found["USB controller"].detail
        await pilot.press("q")

        # A root hub (r shows them): it cannot be passed at all.
        await pilot.press("r")
        doctor = await _open_doctor(pilot, app, "usb1")
        assert [(f.name, f.status) for f in doctor.findings or []] == [("Root hub", Level.FAIL)]


async def test_doctor_shows_device_and_guest_strings_as_plain_text() -> None:
    """A device whose names look like markup, and a guest named with brackets."""
    from tests.rules.helpers import RecordingConn, RecordingDomain
    from tests.test_usb_rules_ui import EVIL, _shown, _UsbApp

    app = _UsbApp(RecordingConn([RecordingDomain("db[old]", active=True, persistent=False)]))
    async with app.run_test(size=(100, 30)) as pilot:
        await app_until(pilot, lambda: app.usb.coordinator.started, "USB", 20.0)
        await pilot.press("w")
        await app_until(pilot, lambda: isinstance(app.screen, UsbDoctorScreen), "the doctor", 20.0)
        doctor = app.screen
        assert isinstance(doctor, UsbDoctorScreen)
        await app_until(pilot, lambda: doctor.findings is not None, "the findings", 20.0)
        await pilot.pause()
        assert _shown(doctor, "#usb-doctor-device").startswith("db[old] Evil[/]  0403:6001")
        assert doctor.device == EVIL
        found = {f.name: f for f in doctor.findings or []}
        assert "guests' XML not read yet: 'db[old]'" in found["USB controller"].detail
        assert found["Host checks"].detail == "not run"  # these services have no probes
