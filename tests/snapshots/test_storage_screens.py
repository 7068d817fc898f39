"""SVG snapshots of the storage and networks screens (issue 21), and that they fit 80x24.

The screens are the real ones, opened from the keys on the fixed demo app; what they list is
what the demo's test driver holds (tui/demo/demo.xml: pools, volumes with the guests using
them, networks), read with the real adapters and handed to the screens as the runner would.
The leases are the demo's (the test driver keeps none).
"""

from __future__ import annotations

from typing import Any

import libvirt
import pytest

from tests.snapshots.test_screens import inject
from tests.support.apps import fixed_app
from tui.adapters.demo.networks import DemoNetworks
from tui.adapters.libvirt.connection import demo_uri, silence_libvirt_errors
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.storage import LibvirtStorage
from tui.ui.screens.hostops import FormDialog
from tui.ui.screens.networks import NetworksScreen
from tui.ui.screens.storage import StorageScreen

SIZES = [(80, 24), (120, 40)]
sizes = pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])


def _conn() -> libvirt.virConnect:
    silence_libvirt_errors()
    return libvirt.open(demo_uri())


async def show_storage(pilot: Any) -> None:
    await inject(pilot)
    await pilot.press("S")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, StorageScreen)
    conn = _conn()
    ops = LibvirtStorage(fixed(conn))
    screen.show_main(ops.pools())
    await pilot.press("down")  # backups, then default: the guests' disks
    await pilot.pause()
    screen.show_detail("default", ops.volumes("default"))
    conn.close()
    await pilot.pause()


async def show_networks(pilot: Any) -> None:
    await inject(pilot)
    await feed_networks(pilot)


async def feed_networks(pilot: Any) -> None:
    await pilot.press("L")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, NetworksScreen)
    conn = _conn()
    ops = DemoNetworks(fixed(conn))
    screen.show_main(ops.networks())
    screen.show_detail("default", ops.leases("default"))
    conn.close()
    await pilot.pause()


@sizes
def test_storage_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=size, run_before=show_storage)


@sizes
def test_networks_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=size, run_before=show_networks)


def test_storage_new_volume_dialog(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=show_storage, press=["n"])


def _inside(widget: Any) -> bool:
    r = widget.region
    return r.x >= 0 and r.y >= 0 and r.right <= 80 and r.bottom <= 24 and r.area > 0


async def test_storage_and_networks_fit_80x24_with_their_keys() -> None:
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_storage(pilot)
        screen = app.screen
        for wid in ("#st-pools", "#st-vols", "#st-vol-title"):
            assert _inside(screen.query_one(wid)), wid
        vols = screen.query_one("#st-vols")
        text = "".join(vols.render_line(y).text for y in range(vols.size.height))
        assert "web-frontend.qcow2" in text and "Used by" in text
        await pilot.press("u")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        assert _inside(dialog.query_one("#form-file")) and _inside(dialog.query_one("#form-ok"))
        await pilot.press("escape", "escape")
        await feed_networks(pilot)
        screen = app.screen
        assert isinstance(screen, NetworksScreen)
        nets = screen.query_one("#net-list")
        assert _inside(nets) and nets.virtual_size.width <= 80  # every column shows
        leases = screen.query_one("#net-leases")
        text = "".join(leases.render_line(y).text for y in range(leases.size.height))
        assert "web-frontend" in text and "52:54:00:9a:3c:11" in text
