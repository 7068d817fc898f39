"""DHCP leases for real (issue 21 item 5): the lab's Debian image (tests/support/osguest.py)
booted as a guest of its own whose only NIC is on an isolated network of the test's (the
session's OS guest has QEMU user networking, and no ACPI to hot-plug one); its
systemd-networkd asks for an address on eth0, libvirt's dnsmasq leases one, and the networks
screen (L) shows that lease with the guest's name. Guest, overlay and network are removed
after."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from testbed import bed
from testbed.wait import wait_for
from tests.conftest import need
from tests.support import osguest
from tests.support.apps import app_until
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.networks import LibvirtNetworks
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions
from tui.ui.screens.networks import NetworksScreen

pytestmark = [pytest.mark.libvirtd, pytest.mark.osguest]

PID = os.getpid()
NET = f"kvmdeck-storage-{PID}-lease"
SUBNET = f"10.{240 + PID % 10}.{PID % 250}"
MAC = f"52:54:00:5e:{PID % 256:02x}:{(PID >> 8) % 256:02x}"
USER_NIC = "<interface type='user'><model type='virtio'/></interface>"


@pytest.fixture()
def leased_guest(libvirtd: libvirt.virConnect) -> Iterator[str]:
    """A guest of the lab's image on the test's isolated network, until it holds a lease."""
    conn = libvirtd
    img = need(osguest.image_dir)
    root = osguest._root_image(img)
    assert root is not None
    name = f"{bed.PREFIX}{PID}-storage-os"
    d = bed.IMAGE_DIR / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    os.chmod(bed.IMAGE_DIR, 0o755)
    os.chmod(d, 0o755)
    try:
        LibvirtNetworks(fixed(conn)).create_isolated(NET, f"{SUBNET}.1/24")
        overlay = d / "root.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(root), str(overlay)],
            check=True,
        )
        os.chmod(overlay, 0o644)
        for part in ("vmlinuz", "initrd.img"):
            shutil.copyfile(img / part, d / part)
            os.chmod(d / part, 0o644)
        xml = osguest.domain_xml(name, root, d)
        assert USER_NIC in xml
        nic = (
            f"<interface type='network'><mac address='{MAC}'/><source network='{NET}'/>"
            "<model type='virtio'/></interface>"
        )
        conn.createXML(xml.replace(USER_NIC, nic), 0)  # transient: gone when destroyed
        yield name
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.lookupByName(name).destroy()
        with contextlib.suppress(libvirt.libvirtError):
            n = conn.networkLookupByName(NET)
            n.destroy()
            n.undefine()
        shutil.rmtree(d, ignore_errors=True)


async def test_lease_of_a_booted_guest_shows_with_its_name(
    libvirtd: libvirt.virConnect, leased_guest: str
) -> None:
    net = libvirtd.networkLookupByName(NET)
    lease = wait_for(
        lambda: next((x for x in net.DHCPLeases(None, 0) if x["mac"] == MAC), None),
        osguest.BOOT_DEADLINE_S,
        2.0,
        f"a DHCP lease for {MAC} on {NET} (the guest boots under TCG)",
    )
    assert str(lease["ipaddr"]).startswith(f"{SUBNET}.")
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test"))
    async with app.run_test(size=(120, 36)) as pilot:
        await app_until(pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "the host")  # fmt: skip
        await pilot.press("L")
        screen: Any = await app_until(
            pilot,
            lambda: isinstance(app.screen, NetworksScreen) and app.screen.main_loads and app.screen,
            "the networks screen",
        )  # fmt: skip
        table = screen.query_one("#net-list")
        table.focus()
        await pilot.press(*["up"] * table.cursor_row)
        for _ in range(table.row_count):
            if screen.selected() is not None and screen.selected().name == NET:
                break
            await pilot.press("down")
        got = await app_until(
            pilot, lambda: screen.details_of == NET and screen.details, "the lease on the screen"
        )
        assert [(le.mac, le.guest) for le in got] == [(MAC, leased_guest)]
        assert got[0].ip == f"{lease['ipaddr']}/24"
        rows = screen.query_one("#net-leases")
        shown = "".join(rows.render_line(y).text for y in range(rows.size.height))
        assert str(lease["ipaddr"]) in shown and leased_guest in shown
