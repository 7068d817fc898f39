"""Issue 14's behaviour at scale (no timings here: the speed targets live in bench/).

500 guests: filtering and sorting show the right rows in the right order and keep the cursor
on the chosen guest; only the rows on screen are rendered; a burst of filter keys is applied
once. The app: the local host's sample and a poll reach the screen in one render.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from rich.console import Console
from rich.padding import Padding
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from tests.support.apps import app_until
from tests.test_guest_table import feed, sample
from tui.cli.wiring import make_app
from tui.model.fleet import Change, Fleet
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.widgets.guest_table import GuestTable
from tui.ui.widgets.guest_table_paint import plain_cell

N = 500


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield GuestTable(id="t")


def names(table: GuestTable) -> list[str]:
    samples = table.samples
    return [samples[row].name for row in table.rows]


def guests() -> list:  # type: ignore[type-arg]
    # CPU% in 7 levels: many ties, which go by name.
    return [sample(i, float(i % 7), name=f"g-{i:03d}") for i in range(N)]


async def test_500_guests_filter_sort_and_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(GuestTable)
        table.focus()
        fleet = Fleet()
        feed(table, fleet, guests())
        await pilot.pause()
        everyone = [f"g-{i:03d}" for i in range(N)]
        assert names(table) == everyone
        # Lazy: only the rows on screen had their cells made, not all 500.
        assert table.row_renders <= 2 * len(table.visible_rows())
        await pilot.press("down", "down", "down")
        assert table.selected_sample().name == "g-003"

        table.set_filter("12")
        await pilot.pause()
        assert names(table) == [n for n in everyone if "12" in n]
        # The chosen guest is filtered out: the cursor stays where it was, on a shown row.
        assert table.cursor_row == 3 and table.selected_sample().name == names(table)[3]
        shown = names(table)[3]
        table.set_filter("")
        await pilot.pause()
        # Esc keeps the guest selected at that moment, as htop does (issue 22).
        assert names(table) == everyone and table.selected_sample().name == shown
        await pilot.press(*["up"] * (everyone.index(shown) - 3))
        assert table.selected_sample().name == "g-003"

        table.set_sort("cpu")  # busiest first, ties by name
        await pilot.pause()
        want = sorted(everyone, key=lambda n: (-(int(n[2:]) % 7), n))
        assert names(table) == want
        assert table.selected_sample().name == "g-003" and table.cursor_visible()
        table.set_sort("cpu")  # again: reversed, ties still by name
        await pilot.pause()
        assert names(table) == sorted(everyone, key=lambda n: (int(n[2:]) % 7, n))
        table.set_sort("name")
        await pilot.pause()
        assert names(table) == everyone and table.selected_sample().name == "g-003"
        table.set_sort("name")
        await pilot.pause()
        assert names(table) == everyone[::-1] and table.cursor_row == N - 1 - 3

        # A tick while filtered and sorted: the new figures move the rows.
        table.set_sort("cpu")
        table.set_filter("g-49")
        await pilot.pause()
        tick = guests()
        tick[490] = sample(490, 99.0, name="g-490")
        feed(table, fleet, tick)
        await pilot.pause()
        assert names(table)[0] == "g-490" and len(names(table)) == 10
        assert table.get_cell(table.rows[0], "cpu").plain.strip() == "99.0%"


async def test_filter_keys_in_one_burst_are_applied_once() -> None:
    app = TableApp()
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(GuestTable)
        feed(table, Fleet(), guests())
        await pilot.pause()
        calls = 0
        apply = table.apply_sort

        def counted(keep: str | None = None) -> None:
            nonlocal calls
            calls += 1
            apply(keep)

        table.apply_sort = counted  # type: ignore[method-assign]
        for text in ("4", "45", "450"):  # three keys before the loop turns
            table.set_filter(text)
        await pilot.pause()
        assert calls == 1 and names(table) == ["g-450"]
        table.set_filter("", now=True)  # Esc: at once
        assert calls == 2 and table.row_count == N


async def test_click_selects_and_a_second_click_opens() -> None:
    selected: list[str] = []

    class Clicks(TableApp):
        def on_line_table_row_selected(self, event: GuestTable.RowSelected) -> None:
            selected.append(event.row)

    app = Clicks()
    async with app.run_test(size=(160, 12)) as pilot:
        table = app.query_one(GuestTable)
        feed(table, Fleet(), guests()[:5])
        await pilot.pause()
        await pilot.click(GuestTable, offset=(3, 3))  # the header, then rows 0, 1, 2
        assert table.selected_sample().name == "g-002" and not selected
        await pilot.click(GuestTable, offset=(3, 3))
        await pilot.pause()
        assert selected == [table.rows[2]]


def node_xml(count: int) -> str:
    doms = "".join(
        f"<domain type='test'><name>s-{i:03d}</name>"
        f"<uuid>6b1c0a3e-0d7e-4c1a-9e1b-{i:012d}</uuid><memory unit='MiB'>512</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
        for i in range(count)
    )
    return f"<?xml version='1.0'?><node><memory>1073741824</memory>{doms}</node>"


async def test_the_app_filters_500_guests_from_the_keys(tmp_path: Path) -> None:
    xml = tmp_path / "node.xml"
    xml.write_text(node_xml(N))
    app = make_app(AppOptions(uris=[f"test://{xml}"], refresh=60.0, vt_badge="KVM: test"))
    async with app.run_test(size=(160, 45)) as pilot:
        deadline = time.monotonic() + 60
        while app.table.row_count < N and time.monotonic() < deadline:
            await pilot.pause(0.05)
        table = app.table
        assert table.row_count == N and names(table)[0] == "s-000"
        await pilot.press("down", "slash", "1", "2")
        await pilot.pause()
        assert names(table) == [f"s-{i:03d}" for i in range(N) if "12" in f"s-{i:03d}"]
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == N and table.has_focus
        # Esc keeps the guest the filtered list had selected (s-012), as htop does (issue 22).
        assert table.selected_sample().name == "s-012"
        await pilot.press("N")
        await pilot.pause()
        assert names(table)[0] == "s-499" and table.selected_sample().name == "s-012"
        assert table.cursor_visible()


async def test_a_poll_and_the_host_sample_render_together() -> None:
    """One repaint per tick: the local host's figures come with the first host's poll."""
    from tui.adapters.libvirt.connection import demo_uri

    app: KvmDeckApp = make_app(
        AppOptions(uris=[demo_uri()], demo=True, refresh=0.3, vt_badge="KVM: test")
    )
    seen: list[tuple[bool, bool]] = []
    async with app.run_test(size=(160, 45)) as pilot:
        while not app.controllers or app.table.row_count == 0:
            await pilot.pause(0.05)
        render = app.main_screen.render_fleet

        def spy(fleet: Fleet, change: Change) -> None:
            seen.append((bool(change.hosts), change.local))
            render(fleet, change)

        app.main_screen.render_fleet = spy  # type: ignore[method-assign]
        # three polls drawn with a host sample (not "in 2 s": a loaded machine polls slower)
        await app_until(pilot, lambda: seen.count((True, True)) >= 3, "3 polls drawn", 30)
    assert (False, True) not in seen  # and no host sample came alone


def test_the_fast_cell_path_gives_what_rich_gives() -> None:
    """The table renders the usual cell without Rich's pipeline: segment for segment the same
    (the SVG snapshots depend on it), or it declines."""
    console = Console(width=200, color_system="truecolor", force_terminal=True)
    rng = random.Random(14)
    alphabet = "abcXYZ019 %/.—…▁▂▃█é漢\u0301"
    styles: list[str | Style] = ["", "green", "bold red", Style(color="yellow"), Style.null()]
    fast = 0
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        cell = Text(
            text,
            style=rng.choice(styles),
            justify=rng.choice(["left", "right", "left", "right", "center", None]),
            overflow=rng.choice(["ellipsis", "ellipsis", "fold", None]),
            no_wrap=rng.choice([True, True, False]),
        )
        width = rng.randint(2, 24)
        got = plain_cell(cell, width, console.get_style)
        if got is None:
            continue
        fast += 1
        options = console.options.update_dimensions(width, 1).update(no_wrap=True)
        want = console.render_lines(Padding(cell, (0, 1)), options)[0]
        assert got == want, (text, cell.justify, width)
    assert fast > 300
