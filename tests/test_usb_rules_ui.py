"""The USB screen's own keys: R saves a rule, D forgets it (the demo's node devices, a real
rules.toml); and every string a device or a guest name supplies is shown as plain text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import App

from tests.rules.helpers import RecordingConn, RecordingDomain
from tests.support.apps import app_until
from tui.adapters.libvirt.connection import demo_uri
from tui.adapters.libvirt.hostdev import LibvirtHostdev
from tui.cli.wiring import make_app
from tui.config import rules_path
from tui.core.usb.ports import UsbServices
from tui.core.usb.requests import RuleStatus
from tui.core.usb.rules import Rule, load_rules
from tui.model.usb import UsbDevice, UsbEvent
from tui.model.usb_doctor import HostProbe, UsbHostStatus
from tui.ui.app import AppOptions
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.picker import GuestPicker
from tui.ui.screens.usb import UsbScreen
from tui.ui.usb_feature import UsbFeature


def _select(screen: UsbScreen, ids: str) -> UsbDevice:
    table = screen.table
    key = next(k for k in table.shown_keys if table.devices[k].ids == ids)
    table.move_cursor(row=table.get_row_index(key), animate=False)
    dev = table.selected_device
    assert dev is not None and dev.ids == ids
    return dev


async def test_make_and_forget_a_rule_from_the_usb_screen() -> None:
    app = make_app(AppOptions(uris=[demo_uri()], demo=True, vt_badge="KVM: test"))
    async with app.run_test(size=(160, 45)) as pilot:
        await app_until(
            pilot, lambda: app.usb is not None and app.usb.coordinator.started, "USB", 10.0
        )
        feature: UsbFeature = app.usb
        await pilot.press("u")
        await pilot.pause()
        assert app.screen is feature.screen
        await app_until(pilot, lambda: feature.screen.table.row_count >= 3, "node devices", 10.0)
        _select(feature.screen, "0781:5581")  # the demo's SanDisk Ultra (usb_1_5)
        await pilot.press("R")
        await app_until(pilot, lambda: isinstance(app.screen, GuestPicker), "the picker", 10.0)
        assert isinstance(app.screen, GuestPicker)
        names = [n for n, _ in app.screen.guests]
        for _ in range(names.index("db-primary")):
            await pilot.press("down")
        await pilot.press("space")  # persistent
        await pilot.press("enter")
        await app_until(pilot, lambda: load_rules(rules_path()) != [], "rules.toml", 10.0)
        assert load_rules(rules_path()) == [Rule(0x0781, 0x5581, "db-primary", persistent=True)]
        await app_until(
            pilot, lambda: "0781:5581 → db-primary" in _rules_shown(feature.screen), "row", 10.0
        )
        await pilot.press("D")
        await app_until(pilot, lambda: load_rules(rules_path()) == [], "the rule forgotten", 10.0)
        await app_until(pilot, lambda: feature.coordinator.engine.rules == [], "engine rules", 10.0)


def _shown(screen: Any, selector: str) -> str:
    """The text a Static/Label shows (its visual, after any markup was applied)."""
    return str(screen.query_one(selector).visual.plain)


def _rules_shown(screen: UsbScreen) -> str:
    """The rules' heading, then each rule's row as drawn (plain text)."""
    table = screen.rules_table
    rows = [" ".join(c.plain for c in table.get_row_at(i)) for i in range(table.row_count)]
    return "\n".join([_shown(screen, "#usb-rules-head"), *rows])


# -- markup safety ---------------------------------------------------------------------------
EVIL = UsbDevice(
    "/sys/devices/pci0000:00/usb1/1-7",
    "1-7",
    1,
    7,
    0x0403,
    0x6001,
    vendor_name="db[old]",
    product_name="Evil[/]",
    serial="[b]S[/b]",
)


class _Feed:
    def start(self, loop: asyncio.AbstractEventLoop, on_events: Callable[[list[UsbEvent]], None]):  # type: ignore[no-untyped-def]
        return [EVIL]

    def stop(self) -> None: ...

    def devices(self) -> list[UsbDevice]:
        return [EVIL]


class _Usb:
    """Host 0's USB family (tui.core.ports.UsbHostPort) over the recording fake: the real
    LibvirtHostdev, the one-device feed, no host probes."""

    node_devices = False

    def __init__(self, conn: RecordingConn) -> None:
        self.conn = conn

    def hostdev(self) -> LibvirtHostdev:
        return LibvirtHostdev(self.conn)

    def device_feed(self) -> _Feed:
        return _Feed()

    def probe(self, device: UsbDevice | None) -> HostProbe | None:
        return None  # no host probes here


class _UsbApp(App[None]):
    """A bare app with the real UsbFeature, the real adapter code over the recording fake
    domain (no USB bus here: a live attach cannot succeed), and a one-device feed."""

    readonly = False  # what the USB screen asks of its app (tui.ui.deck.Deck)

    def __init__(self, conn: RecordingConn) -> None:
        super().__init__()
        self.conn = conn
        self.lines: list[str] = []
        self.usb = UsbFeature(self, self._services(), readonly=False, settings=None)

    def _services(self) -> UsbServices:
        return UsbServices(
            local_feed=_Feed,
            remote_feed=lambda _c: _Feed(),
            hostdev=LibvirtHostdev,
            local_status=lambda: UsbHostStatus(bus=True, udev=True),
            uses_node_devices=lambda _c: False,
            open_connection=lambda _u, _r: self.conn,
            close_connection=lambda _c: None,
            register_event_loop=lambda: None,
        )

    def log_event(self, text: str, wall: float | None = None, key: object = None) -> None:
        self.lines.append(text)

    def on_mount(self) -> None:
        import asyncio

        from tui.core.runner import Runner

        self.runner = Runner(
            asyncio.get_running_loop(), lambda n, e: self.lines.append(f"{n}: {e}")
        )
        self.usb.mount()
        self.usb.host_connected(0, _Usb(self.conn), "vm")
        self.usb.start()
        self.usb.show()


async def test_device_strings_and_guest_names_are_plain_text() -> None:
    guest = "db[old]"  # libvirt accepts [ and ] in guest names
    a = RecordingDomain(guest, active=True, persistent=False)
    b = RecordingDomain("b[/]", active=True, persistent=False, uuid="6f1c2d7e-0000-4000-8000-2")
    app = _UsbApp(RecordingConn([a, b]))
    async with app.run_test(size=(160, 45)) as pilot:
        feature = app.usb
        await app_until(pilot, lambda: feature.coordinator.started, "USB", 10.0)
        screen = feature.screen
        assert screen is not None and app.screen is screen
        row = [cell.plain for cell in screen.table.get_row(EVIL.key)]
        assert row[3] == "db[old] Evil[/]" and row[4] == "[b]S[/b]"
        await pilot.press("a")
        await app_until(pilot, lambda: isinstance(app.screen, GuestPicker), "the picker", 10.0)
        picker = app.screen
        assert isinstance(picker, GuestPicker)
        await pilot.pause()
        assert "Attach db[old] Evil[/] (0403:6001, 001:007) to:" in _shown(picker, "#picker-title")
        assert [n for n, _ in picker.guests] == ["b[/]", guest]
        await pilot.press("down", "enter")  # db[old]
        await app_until(
            pilot, lambda: feature.coordinator.live_owner(EVIL) == guest, "attached", 10.0
        )
        assert any("'db[old] Evil[/]'" in line and "→ db[old]" in line for line in app.lines)
        texts = [n.message for n in app._notifications]
        assert any("db[old] Evil[/]" in t for t in texts)
        # A move asks first; the question shows the names as they are.
        await pilot.press("a")
        await app_until(pilot, lambda: isinstance(app.screen, GuestPicker), "the picker", 10.0)
        await pilot.press("enter")  # b[/]
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question", 10.0)
        await pilot.pause()
        question = _shown(app.screen, "#question")
        assert "db[old] Evil[/] is attached to 'db[old]'" in question and "'b[/]'" in question
        await pilot.press("y")
        await app_until(
            pilot, lambda: feature.coordinator.live_owner(EVIL) == "b[/]", "moved", 10.0
        )
        await pilot.press("d")
        await app_until(
            pilot, lambda: feature.coordinator.live_owner(EVIL) is None, "detached", 10.0
        )
        assert screen.table.owner_of(EVIL) == ""
        # The event log of the USB screen and the rules rows take such strings too.
        screen.log_events([UsbEvent("add", EVIL, EVIL.sys_path, 0.0)])
        screen.rules_table.show((RuleStatus(Rule(0x0403, 0x6001, guest), "held", "Evil[/]"),))
        await pilot.pause()
        assert "Evil[/]" in screen.event_log.entries[-1]
        assert _rules_shown(screen).endswith("1 0403:6001 → db[old] held — Evil[/]")
        assert all(isinstance(c, Text) for c in screen.rules_table.get_row_at(0))  # no markup


async def test_rule_by_port_from_the_picker_and_a_broken_file_on_the_screen() -> None:
    """R, then m (twice) in the picker: a rule by port alone. Then rules.toml broken by hand:
    the USB screen names the file and the line, the last good rule keeps applying, and R is
    refused until the file is fixed."""
    guest = "db[old]"
    app = _UsbApp(RecordingConn([RecordingDomain(guest, active=False, persistent=True)]))
    path = rules_path()
    async with app.run_test(size=(160, 45)) as pilot:
        feature = app.usb
        await app_until(pilot, lambda: feature.coordinator.started, "USB", 10.0)
        await pilot.press("R")
        await app_until(pilot, lambda: isinstance(app.screen, GuestPicker), "the picker", 10.0)
        picker = app.screen
        assert isinstance(picker, GuestPicker)
        await pilot.pause()
        assert _shown(picker, "#picker-match") == (
            "Match: by serial [b]S[/b] (0403:6001): this device, in any port"
        )
        await pilot.press("m", "m")
        await pilot.pause()
        assert picker.match == "port"
        assert _shown(picker, "#picker-match") == (
            "Match: by port 1-7: whatever is plugged into that port"
        )
        await pilot.press("enter")
        await app_until(pilot, lambda: load_rules(path) != [], "rules.toml", 10.0)
        assert load_rules(path) == [Rule(None, None, guest, port="1-7")]
        screen = feature.screen
        assert screen is not None
        await app_until(
            pilot, lambda: "port 1-7 → db[old]" in _rules_shown(screen), "the row", 10.0
        )
        good = path.read_text()
        broken = good + "persistent = tru\n"
        path.write_text(broken)
        feature.coordinator.rulebook.check_rules()  # what the tick does every few seconds
        await app_until(pilot, lambda: "keep applying" in _rules_shown(screen), "the error", 10.0)
        shown = _rules_shown(screen)
        line = broken.count("\n")
        assert shown.startswith(f"{path}:{line}: TOML syntax error")
        assert "The last good rules (1) keep applying" in shown
        assert "1 port 1-7 → db[old] pending" in shown
        await pilot.press("R")
        await app_until(pilot, lambda: isinstance(app.screen, GuestPicker), "the picker", 10.0)
        await pilot.press("enter")
        await app_until(
            pilot,
            lambda: any("Rules not saved: fix" in n.message for n in app._notifications),
            "the refusal",
            10.0,
        )
        assert path.read_text() == broken


async def test_rule_picker_fits_80x24_with_many_guests() -> None:
    """The rule picker has one line more (Match: …): it still fits above the footer."""
    doms = [
        RecordingDomain(f"guest{i}", active=False, persistent=True, uuid=f"6f1c2d7e-0-4-8-{i}")
        for i in range(20)
    ]
    app = _UsbApp(RecordingConn(doms))
    async with app.run_test(size=(80, 24)) as pilot:
        await app_until(pilot, lambda: app.usb.coordinator.started, "USB", 10.0)
        await pilot.press("R")
        await app_until(pilot, lambda: isinstance(app.screen, GuestPicker), "the picker", 10.0)
        await pilot.pause()
        box = app.screen.query_one("GuestPicker > Vertical").region
        for wid in ("#picker-guests", "#picker-persistent", "#picker-match", "#picker-hint"):
            region = app.screen.query_one(wid).region
            assert region.y >= box.y and region.bottom <= box.bottom - 1, wid  # inside the border
        assert box.bottom <= 23  # the footer keeps the last line
