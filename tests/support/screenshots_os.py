"""``make screenshots`` (second part): SVGs of issue 13's features on a guest with a real OS.

Boots the Debian guest of :mod:`tests.support.osguest` (the USB lab's image, TCG, the guest
agent, root autologin on ttyS0) next to two transient OS-less guests, then saves:

- ``screenshots/guest-ips.svg``: the main table at 190x36 with the IP column (the agent's
  address of the Debian guest; the column is the first the layout drops when narrower), and
  ``guest-detail-ips.svg``, the guest's detail at 120x36 with every address and its source;
- ``screenshots/snapshots.svg``: the snapshot screen of the Debian guest with a small tree
  (made through libvirt before the app starts) and the current one marked;
- ``screenshots/serial-console.svg``: the real binary in tmux after ``c`` on the Debian guest:
  the guest's own shell on its serial console. The serial console runs ``virsh console`` in
  kvmdeck's terminal (the app is suspended), so Textual cannot screenshot it: the tmux pane is
  captured with its colours and drawn as SVG by Rich.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import libvirt
from rich.console import Console
from rich.text import Text

from testbed import bed
from tests.support import osguest
from tests.support.apps import app_until
from tests.support.tmux import Term
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions

OUT = Path(__file__).resolve().parents[2] / "screenshots"
SIZE = (120, 36)
WIDE = (190, 36)

SNAPSHOT_XML = (
    "<domainsnapshot><name>{name}</name><description>{desc}</description></domainsnapshot>"
)


def make_snapshots(dom: libvirt.virDomain) -> None:
    """A small tree with a branch: ``installed`` with two children, the second current.
    Internal snapshots of a running guest carry its memory (libvirt's default)."""

    def snap(name: str, desc: str) -> None:
        dom.snapshotCreateXML(SNAPSHOT_XML.format(name=name, desc=desc), 0)

    snap("installed", "fresh Debian 12 with the guest agent")
    snap("before-upgrade", "apt upgrade next")
    dom.revertToSnapshot(dom.snapshotLookupByName("installed", 0), 0)
    snap("experiment", "trying a kernel option")


async def shoot_app(guest: osguest.OsGuest) -> list[Path]:
    saved: list[Path] = []
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], refresh=1.0))
    async with app.run_test(size=SIZE) as pilot:

        async def save(name: str) -> None:
            await pilot.pause(0.5)
            app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
            saved.append(OUT / f"{name}.svg")

        g = await app_until(
            pilot, lambda: app.fleet.find(guest.name), "the guest's row", 60, step=0.2
        )
        await app_until(
            pilot,
            lambda: any(a.addr == guest.ip for a in g.addresses),
            "its address",
            120,
            step=0.2,
        )
        await pilot.pause(8)  # a little history for the rates
        app.select_guest(g.key.row)
        await pilot.resize_terminal(*WIDE)  # the IP column is the first to go when narrower
        await pilot.pause(1.5)
        await save("guest-ips")
        await pilot.resize_terminal(*SIZE)
        await pilot.pause(1.0)
        await pilot.press("enter")
        await pilot.pause(2)
        await save("guest-detail-ips")
        await pilot.press("escape")
        await pilot.press("z")
        await app_until(
            pilot,
            lambda: getattr(app.screen, "snaps", None) is not None and app.screen.snaps.snapshots,
            "the snapshot tree",
            60,
            step=0.2,
        )
        await save("snapshots")
    return saved


def shoot_serial(guest: osguest.OsGuest) -> Path:
    term = Term(["-c", bed.SYSTEM_URI, "--refresh", "5"], size=SIZE)
    try:
        term.wait_screen(lambda s: guest.name in s, 60, "the guest's row")
        term.keys("/")
        term.wait_screen(lambda s: "filter: name or host:" in s, 20, "the filter box")
        term.keys("-l", guest.name)
        term.keys("Enter")
        time.sleep(1.0)
        term.keys("c")
        term.wait_screen(lambda s: "Escape character is ^]" in s, 60, "virsh console")
        term.keys("Enter")
        term.wait_screen(lambda s: "root@kvmdeck-lab" in s, 60, "the guest's prompt")
        for line in ("uname -sr", "ip -4 -brief address show eth0"):
            term.keys("-l", line)
            term.keys("Enter")
        term.wait_screen(lambda s: "10.0.2.15" in s, 30, "the guest's answer")
        time.sleep(0.5)
        out = subprocess.run(
            [*term.server, "capture-pane", "-e", "-p", "-t", "k"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        term.keys("C-]")
        term.wait_screen(lambda s: "root@kvmdeck-lab" not in s, 30, "kvmdeck again")
    finally:
        term.keys("q")
        term.wait_exit(5)
        term.close()
    lines = out.rstrip("\n").split("\n")[: SIZE[1]]
    with open(os.devnull, "w") as sink:
        console = Console(record=True, width=SIZE[0], height=SIZE[1], file=sink)
        console.print(Text.from_ansi("\n".join(lines)), soft_wrap=True)
    path = OUT / "serial-console.svg"
    console.save_svg(str(path), title="kvmdeck: serial console (c), Ctrl+] returns")
    return path


def main() -> int:
    OUT.mkdir(exist_ok=True)
    conn, _ = bed.ensure_libvirtd()
    bed.sweep(conn)
    osguest.sweep(conn)
    extra = [bed.create_transient(conn, i, tag="shot") for i in range(2)]
    guest = osguest.boot(conn)
    try:
        make_snapshots(conn.lookupByUUIDString(guest.uuid))
        paths = asyncio.run(shoot_app(guest))
        paths.append(shoot_serial(guest))
    finally:
        osguest.remove(conn, guest.name, guest.dir)
        for g in extra:
            bed.remove(conn, g)
        conn.close()
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
