"""``make screenshots``: screenshots/storage.svg and networks.svg of the real app on
qemu:///system (issue 21).

Makes a directory pool under /var/tmp with a guest's disk, an ISO (in the guest's CD-ROM
drive) and a data volume, an isolated network with DHCP that the guest's interface is on, and
a running TCG guest (no OS: it gets no lease), then opens the storage screen (S) on that pool
and the networks screen (L) on that network at 120x36. Everything it made is removed after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import libvirt

from testbed import bed
from testbed.wait import until
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions
from tui.ui.screens.networks import NetworksScreen
from tui.ui.screens.storage import StorageScreen

OUT = Path(__file__).resolve().parents[2] / "screenshots"
SIZE = (120, 36)
NAME = "kvmdeck-shot-storage"
NET = "kvmdeck-shot-lab"
BASE = Path("/var/tmp") / NAME


def _make(conn: libvirt.virConnect) -> str:
    (BASE / "pool").mkdir(parents=True, exist_ok=True)
    (BASE / "iso").mkdir(exist_ok=True)
    for d in (BASE, BASE / "pool"):
        os.chmod(d, 0o755)
    p = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{NAME}</name><target><path>{BASE / 'pool'}</path></target></pool>"
    )
    p.create(0)

    def vol(name: str, size: int, fmt: str) -> libvirt.virStorageVol:
        return p.createXML(
            f"<volume><name>{name}</name><capacity>{size}</capacity><allocation>0</allocation>"
            f"<target><format type='{fmt}'/></target></volume>",
            0,
        )

    disk = vol("web-01.qcow2", 20 << 30, "qcow2")
    vol("data-01.raw", 4 << 30, "raw")
    (BASE / "iso" / "README.TXT").write_text("kvmdeck\n")
    iso_file = BASE / "debian-netinst.iso"
    subprocess.run(
        [bed.require_cmd("xorriso", "xorriso"), "-as", "mkisofs", "-quiet", "-V", "KVMDECK",
         "-o", str(iso_file), str(BASE / "iso")],
        check=True,
    )  # fmt: skip
    iso = vol("debian-netinst.iso", iso_file.stat().st_size, "raw")
    stream = conn.newStream(0)
    iso.upload(stream, 0, iso_file.stat().st_size, 0)
    stream.send(iso_file.read_bytes())
    stream.finish()
    net = conn.networkDefineXML(
        f"<network><name>{NET}</name><ip address='10.231.7.1' netmask='255.255.255.0'>"
        "<dhcp><range start='10.231.7.100' end='10.231.7.200'/></dhcp></ip></network>"
    )
    net.create()
    guest = f"{bed.PREFIX}{os.getpid()}-shot-web"
    devices = (
        f"    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        f"<source file='{iso.path()}'/><target dev='hdc' bus='ide'/><readonly/></disk>\n"
        f"    <interface type='network'><source network='{NET}'/><model type='virtio'/></interface>\n"
    )  # fmt: skip
    conn.createXML(bed.guest_xml(guest, Path(disk.path()), extra_devices=devices), 0)
    return guest


def _remove(conn: libvirt.virConnect, guest: str) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(guest).destroy()
    with contextlib.suppress(libvirt.libvirtError):
        p = conn.storagePoolLookupByName(NAME)
        for v in p.listAllVolumes(0):
            v.delete(0)
        p.destroy()
        p.undefine()
    with contextlib.suppress(libvirt.libvirtError):
        n = conn.networkLookupByName(NET)
        n.destroy()
        n.undefine()
    shutil.rmtree(BASE, ignore_errors=True)


async def _select(pilot: object, table_id: str, key: str) -> None:
    table = pilot.app.screen.query_one(table_id)  # type: ignore[attr-defined]
    table.focus()
    for row in range(table.row_count):
        table.move_cursor(row=row)
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        if row_key.value == key:
            return


async def shoot() -> list[Path]:
    conn, _ = bed.ensure_libvirtd()
    _remove(conn, "")
    guest = _make(conn)
    saved: list[Path] = []
    try:
        app = make_app(AppOptions(uris=[bed.SYSTEM_URI], refresh=1.0))
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: app.fleet.find(guest), "the guest", 30, pause=pilot.pause)
            app.select_guest(app.fleet.find(guest).key.row)  # type: ignore[union-attr]
            await pilot.press("S")
            screen = await until(
                lambda: isinstance(app.screen, StorageScreen) and app.screen.main_loads and app.screen,
                "the storage screen", 30, pause=pilot.pause,
            )  # fmt: skip
            await _select(pilot, "#st-pools", NAME)
            await until(lambda: screen.details_of == NAME and screen.details, "the volumes", 30, pause=pilot.pause)  # fmt: skip
            await pilot.pause(0.5)
            app.save_screenshot(filename="storage.svg", path=str(OUT))
            saved.append(OUT / "storage.svg")
            await pilot.press("escape", "L")
            nets = await until(
                lambda: isinstance(app.screen, NetworksScreen) and app.screen.main_loads and app.screen,
                "the networks screen", 30, pause=pilot.pause,
            )  # fmt: skip
            await _select(pilot, "#net-list", NET)
            await until(lambda: nets.details_of == NET, "the leases", 30, pause=pilot.pause)
            await pilot.pause(0.5)
            app.save_screenshot(filename="networks.svg", path=str(OUT))
            saved.append(OUT / "networks.svg")
    finally:
        _remove(conn, guest)
        conn.close()
    return saved


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for path in asyncio.run(shoot()):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
