"""A USB device whose strings are terminal escape sequences (umockdev): its product would set the
terminal's title (OSC 0), its manufacturer write the clipboard (OSC 52), its serial ask the
terminal for its attributes (DA1: the answer lands in kvmdeck's input). kvmdeck shows them as
visible placeholders: in the app (Pilot), and in the real terminal (the real binary in tmux:
tmux's pane title unchanged, no paste buffer, no key injected: the help screen stays shut).

Run under umockdev-wrapper (tests/usb/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import unicodedata

import pytest

from testbed import bed
from testbed.usb import UsbBed
from testbed.wait import until
from tests.support.tmux import Term
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions, KvmDeckApp

pytestmark = pytest.mark.libvirtd

PRODUCT = "\x1b]0;PWNED-TITLE\x1b\\"
MANUFACTURER = "\x1b]52;c;cHduZWQ=\x1b\\"
SERIAL = "\x1b[c"
SHOWN = {"␛]0;PWNED-TITLE␛\\", "␛[c"}  # the manufacturer shows where the product does not


def _plug(usb_bed: UsbBed) -> None:
    usb_bed.plug(
        "1-5", 1, 14, 0x1234, 0x5678, manufacturer=MANUFACTURER, product=PRODUCT, serial=SERIAL
    )


def _unsafe(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in {"Cc", "Cf"} and c not in "\n"]


async def test_hostile_device_strings_show_as_placeholders(
    usb_bed: UsbBed,
    libvirtd,  # type: ignore[no-untyped-def]
) -> None:
    app: KvmDeckApp = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(170, 45)) as pilot:
        await until(lambda: app.usb is not None and app.usb.coordinator.started, "USB", 30)
        await pilot.pause(0.5)
        _plug(usb_bed)
        await until(lambda: any("PWNED-TITLE" in e for e in app.fleet.events), "USB add", 15)
        events = [e for e in app.fleet.events if "PWNED-TITLE" in e]
        assert all(not _unsafe(e) for e in events), events
        assert any("␛]0;PWNED-TITLE␛\\" in e for e in events), events
        await pilot.press("u")
        table = app.usb.screen.table
        await until(lambda: table.row_count >= 1, "USB row", 10)
        await pilot.pause(0.2)
        cells = [c.plain for row in range(table.row_count) for c in table.get_row_at(row)]
        assert not any(_unsafe(c) for c in cells), cells
        assert SHOWN & set(cells), cells
        log = app.usb.screen.event_log.entries
        assert log and not any(_unsafe(line) for line in log), log
        # The USB doctor of that device: its header names it.
        row = next(i for i in range(table.row_count) if "PWNED" in table.get_row_at(i)[3].plain)
        table.move_cursor(row=row)
        await pilot.press("w")
        await pilot.pause(0.5)
        shown = str(app.screen.query_one("#usb-doctor-device").render())
        assert "PWNED-TITLE" in shown and not _unsafe(shown), shown


def test_the_real_terminal_is_untouched_by_hostile_device_strings(
    usb_bed: UsbBed,
    libvirtd,  # type: ignore[no-untyped-def]
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    env = {"UMOCKDEV_DIR": usb_bed.root, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    term = Term(["-c", bed.SYSTEM_URI], size=(170, 45), env=env)
    try:

        def tmux(*args: str) -> str:
            return subprocess.run(
                [*term.server, *args], capture_output=True, text=True, check=False
            ).stdout

        tmux("set-option", "-g", "set-clipboard", "on")  # OSC 52 would make a paste buffer
        tmux("set-option", "-g", "allow-rename", "on")
        term.wait_screen(lambda s: "? Help" in s or "Help" in s, 30, "kvmdeck's main screen")
        title = tmux("display-message", "-p", "-t", "k", "#{pane_title}")
        assert "PWNED" not in title

        def untouched(where: str) -> None:
            screen = term.screen()
            got = tmux("display-message", "-p", "-t", "k", "#{pane_title}")
            assert got == title, f"{where}: OSC 0 set the title to {got!r}"
            assert tmux("list-buffers") == "", f"{where}: OSC 52 made a paste buffer"
            assert "kvmdeck keys" not in screen, f"{where}: a terminal answer opened help"

        # USB starts after the first guest frame: a device plugged before it is "present",
        # not added. The USB screen names its source once the monitor listens.
        term.keys("u")
        term.wait_screen(lambda s: "udev on this host" in s, 30, "the USB monitor started")
        term.keys("Escape")
        term.wait_screen(lambda s: "udev on this host" not in s, 10, "back to the main screen")
        _plug(usb_bed)
        term.wait_screen(lambda s: "USB add" in s, 20, "the device's add line")
        untouched("event log")
        assert "␛]0;PWNED-TITLE␛\\" in term.screen()
        term.keys("u")
        term.wait_screen(lambda s: "1234:5678" in s, 20, "the USB table's row")
        untouched("USB table")
        assert "␛[c" in term.screen()
        assert term.alive()
        term.keys("q")
        term.keys("q")
        assert term.wait_exit(15) is not None
    finally:
        term.close()
        term.wait_exit(5)
    assert os.environ.get("UMOCKDEV_DIR") == usb_bed.root  # the testbed is still the one used
