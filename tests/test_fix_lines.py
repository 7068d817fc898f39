"""Issue 22, item 4: a doctor's fix line that holds a command is never wrapped in the middle.

The display doctor on the guest detail screen shows each command of a fix on a row of its
own (:class:`~tui.ui.widgets.command_row.CommandRow`): the whole command on one row, which
scrolls sideways when it is wider than the screen. Tested with Pilot at 80x24 and with the real
binary in tmux at 80x24 and 120x40 (what an operator selects and copies from the pane).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tests.support.apps import app_until, demo_app, fixed_app
from tests.support.tmux import Term
from tui.core.display import Finding, Level, format_text
from tui.core.usb.doctor import add_xhci
from tui.ui.screens.detail import GuestDetailScreen
from tui.ui.screens.usb_doctor import UsbDoctorScreen, findings_text
from tui.ui.widgets.command_row import CommandRow, fix_rows, split_command
from tui.ui.widgets.display_doctor import DisplayDoctor

VIDEO = "virt-xml --edit --video model.type=qxl web-frontend"  # the demo's cirrus guest
CHANNEL = "virt-xml --add-device --channel spicevmc web-frontend"


def test_split_command_starts_the_command_on_its_own_row() -> None:
    make_ready = "S in the guest detail (make SPICE-ready), or " + CHANNEL
    assert split_command(make_ready) == ("S in the guest detail (make SPICE-ready), or", CHANNEL)
    assert split_command(VIDEO + " (takes effect at the next boot)")[0] == ""
    assert split_command("as root: dmesg | grep usb") == ("as root:", "dmesg | grep usb")
    assert split_command("v shows the ssh commands") == ("v shows the ssh commands", "")
    # "kvmdeck" in prose is not a command; "kvmdeck doctor --guest" is
    assert split_command("run kvmdeck on that host")[1] == ""
    assert split_command("kvmdeck doctor --guest web (read-write) tells")[0] == ""
    rows = fix_rows(make_ready + "\nsecond: " + VIDEO)
    assert [r.plain if isinstance(r, Text) else r for r in rows] == [
        "fix: S in the guest detail (make SPICE-ready), or",
        (CHANNEL, "     "),
        "     second:",
        (VIDEO, "     "),
    ]


def test_doctor_guest_cli_prints_each_fix_on_one_line() -> None:
    """``doctor --guest`` (text) prints a fix whole after ``fix:``; kvmdeck never wraps it."""
    fix = "S in the guest detail (make SPICE-ready), or " + CHANNEL + " " + "x" * 200
    out = format_text("web-frontend", [Finding("Agent channel", Level.WARN, "none", fix)])
    line = next(ln for ln in out.splitlines() if "fix:" in ln)
    assert line.endswith("fix: " + fix)


async def test_detail_fix_lines_unwrapped_and_scrolling_at_80x24() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app_until(pilot, lambda: app.table.samples, "the guests")
        key = next(k for k, s in app.table.samples.items() if s.name == "web-frontend")
        app.select_guest(key)
        await pilot.pause()
        await pilot.press("enter")
        screen = await app_until(
            pilot, lambda: isinstance(app.screen, GuestDetailScreen) and app.screen, "detail"
        )
        doctor = screen.query_one("#display-doctor", DisplayDoctor)
        rows = await app_until(
            pilot, lambda: {r.command: r for r in doctor.query(CommandRow)}, "the fix rows"
        )
        assert CHANNEL in rows and VIDEO + " (takes effect at the next boot)" in rows, list(rows)
        video = rows[VIDEO + " (takes effect at the next boot)"]
        for row in rows.values():  # every command whole on one row, from its first word
            text = row.query_one(".command", Static)
            assert text.size.height == 1, (row.command, text.size)
            assert text.render_line(0).text.strip().endswith(row.command), row.command
        text = video.query_one(".command", Static)
        assert text.render_line(0).text.strip() == f"fix: {VIDEO} (takes effect at the next boot)"
        assert text.size.width > video.scrollable_content_region.width  # wider than 80 columns
        assert video.max_scroll_x > 0 and video.scroll_x == 0  # … so the row scrolls to its end
        video.focus()
        await pilot.press(*["right"] * 40)
        await app_until(pilot, lambda: video.scroll_x >= video.max_scroll_x, "scrolled right")
        assert "virt-xml --edit" in doctor.text.plain  # the whole report, as one text


def _rows(text: str) -> list[str]:
    return [line.strip(" │▏▎▍▌▋▊▉█▐▕") for line in text.splitlines()]


def test_detail_fix_lines_whole_in_tmux_at_80x24_and_120x40() -> None:
    """The pane (what the operator copies) shows each virt-xml command from its first word
    with its arguments on one line, never "virt-xml --add-device" / "--channel …"."""
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "SSH_CONNECTION": ""}
    for size in ((80, 24), (120, 40)):
        term = Term(["--demo"], size=size, env=env)
        try:
            term.wait_screen(lambda t: "web-frontend" in t and "q Quit" in t, 30, "the guests")
            term.keys("End", "Up", "Enter")  # web-frontend: running, cirrus, no agent channel
            term.wait_screen(lambda t: "web-frontend on" in t, 15, "its detail screen")
            term.keys("PageDown", "PageDown")  # the display doctor, below the charts
            text = term.wait_screen(lambda t: CHANNEL in t, 15, "the fix rows")
            rows = _rows(text)
            assert CHANNEL in rows, (size, rows)  # a row of its own, whole
            video = next(r for r in rows if "virt-xml --edit" in r)
            assert video.startswith("fix: " + VIDEO[:40]), (size, video)
            if size[0] >= 120:
                assert video == f"fix: {VIDEO} (takes effect at the next boot)", video
            assert not any(
                r.startswith(("--channel", "--video", "spicevmc")) or r == "web-frontend"
                for r in rows
            )
        finally:
            term.close()


async def test_usb_doctor_fix_commands_unwrapped_at_80x24() -> None:
    """The USB doctor's fixes: ``virt-xml … --controller usb,model=qemu-xhci NAME`` and the
    kernel-log command each whole on one row (the findings are data; the screen is real)."""
    guest = "a-guest-with-a-rather-long-name-for-80-columns"
    xhci = add_xhci(guest)
    dmesg = "as root: dmesg | grep -E 'apparmor=\"DENIED\"|avc: +denied' | grep usb"
    findings = [
        Finding("USB 3 controller", Level.WARN, "no xhci controller", xhci + ", or S"),
        Finding("Kernel log", Level.INFO, "cannot read the kernel log", dmesg),
    ]
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = UsbDoctorScreen(None)
        await app.push_screen(screen)
        screen.show(findings)
        rows = await app_until(
            pilot, lambda: {r.command: r for r in screen.query(CommandRow)}, "the fix rows"
        )
        assert set(rows) == {xhci + ", or S", dmesg[len("as root: ") :]}, list(rows)
        for row in rows.values():
            text = row.query_one(".command", Static)
            assert text.size.height == 1, (row.command, text.size)
            assert text.render_line(0).text.strip().endswith(row.command)
        wide = rows[xhci + ", or S"]
        assert wide.max_scroll_x > 0  # wider than 80 columns: it scrolls
        assert "fix: virt-xml --add-device --controller" in findings_text(findings).plain
