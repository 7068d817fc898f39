"""Guests with hostile names (libvirt's test driver, a node XML of our own): the table, the
detail screen, the palette, the event log and notifications show visible placeholders, never
the raw characters, and the columns after the name stay where they are.

XML 1.0 forbids ESC in a document, so a guest name cannot hold it; it can hold C1 controls
(U+009B is CSI for a terminal that takes 8-bit controls), bidi overrides, zero-width characters
and a bare combining mark. ESC itself comes from devices: tests/usb/test_terminal_safe_usb.py.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text

from tests.test_app_demo import wait_rows
from tui.adapters.libvirt.connection import demo_xml_path
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions
from tui.ui.screens.detail import GuestDetailScreen

HOSTILE = {
    "web-frontend": "evil\u202egnp.exe",  # RLO: the rest of the row would run right to left
    "db-primary": "z\u200b\u200dw",  # zero-width space and joiner
    "router-lab": "csi\u009b2J",  # C1 CSI
    "archive": "\u0301\u0301mark",  # combining marks with no base
}
SHOWN = {
    "evil\u202egnp.exe": "evil<U+202E>gnp.exe",
    "z\u200b\u200dw": "z<U+200B><U+200D>w",
    "csi\u009b2J": "csi<U+009B>2J",
    "\u0301\u0301mark": "\u25cc\u0301\u0301mark",
}


def hostile_xml(tmp_path: Path) -> str:
    text = demo_xml_path().read_text()
    for old, new in HOSTILE.items():
        text = text.replace(f"<name>{old}</name>", f"<name>{new}</name>")
    path = tmp_path / "hostile.xml"
    path.write_text(text, encoding="utf-8")
    return f"test://{path}"


def unsafe(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"}]


async def test_hostile_guest_names_are_shown_as_placeholders(tmp_path: Path) -> None:
    app = make_app(AppOptions(uris=[hostile_xml(tmp_path)], demo=True, vt_badge="KVM: test"))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_rows(pilot, app, 6)
        await pilot.pause()
        table = app.table
        lines = [table.render_line(y) for y in range(table.header_height + table.row_count)]
        texts = [strip.text for strip in lines]
        for raw, shown in SHOWN.items():
            assert any(shown in t for t in texts), (shown, texts)
            assert not any(raw in t.replace(shown, "") for t in texts)
        for t in texts:
            assert not unsafe(t), t
        # The State column starts at the same cell in every row: nothing shifted it.
        starts = set()
        for t in texts[table.header_height :]:
            m = re.search(r"running|paused|shut off", t)
            assert m is not None, t
            starts.add(cell_len(t[: m.start()]))
        assert len(starts) == 1, starts

        # The event log: a lifecycle line names the guest.
        app.log_event("guest evil\u202egnp.exe said \x1b]0;TITLE\x1b\\")
        await pilot.pause()
        assert app.fleet.events[-1].endswith("guest evil<U+202E>gnp.exe said ␛]0;TITLE␛\\")
        # A notification with a name in it.
        app.notify("renamed csi\u009b2J", markup=False)
        await pilot.pause()
        assert [n.message for n in app._notifications][-1] == "renamed csi<U+009B>2J"

        # The detail screen's title and summary.
        key = next(k for k, s in table.samples.items() if s.name == "evil\u202egnp.exe")
        app.select_guest(key)
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(app.screen, GuestDetailScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, GuestDetailScreen)
        await pilot.pause(0.3)
        title = app.screen.query_one("#detail-title").render()
        assert isinstance(title, Text) or hasattr(title, "plain")
        plain = str(getattr(title, "plain", title))
        assert "evil<U+202E>gnp.exe" in plain and not unsafe(plain)

        # The palette's "Go to guest …" entries.
        from tui.ui.commands import GuestCommands

        await pilot.press("escape")
        await pilot.pause()
        provider = GuestCommands(app.screen)
        titles = [title for title, _cb, _help in provider._commands()]
        assert "Go to guest evil<U+202E>gnp.exe" in titles
        assert not any(unsafe(t) for t in titles)


def test_stats_text_and_csv_and_the_doctor_cli_are_terminal_safe(tmp_path: Path) -> None:
    import io

    from tui.cli.doctor import run_guest
    from tui.cli.stats import run_stats
    from tui.config import Settings

    uri = hostile_xml(tmp_path)
    for as_csv in (False, True):
        out, err = io.StringIO(), io.StringIO()
        run_stats([uri], Settings(), False, as_csv, 1, 0.05, out=out, err=err)
        text = out.getvalue()
        assert "evil<U+202E>gnp.exe" in text and "csi<U+009B>2J" in text, text
        assert not unsafe(text.replace("\n", "").replace("\r", "")), text
    out = io.StringIO()
    run_guest(uri, "evil\u202egnp.exe", False, readonly=True, out=out, env={})
    text = out.getvalue()
    assert "evil<U+202E>gnp.exe" in text and not unsafe(text.replace("\n", "")), text
