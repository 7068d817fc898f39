"""Storage and networks screens (issue 21 items 4-6) driven from the keys against the real
libvirtd (qemu:///system): a directory pool of the test's own in a 0755 directory under
/var/tmp, volumes, a running TCG guest (no OS: SeaBIOS keeps it running) whose disk is one of
the pool's volumes and which has an IDE CD-ROM drive, uploads through a libvirt stream, and
isolated networks only. Every object is named with ``storage`` and the pid, and removed in
finalizers. DHCP leases need a guest with an OS: the lease-to-guest match is tested on the
test driver and real DHCPLeases() dicts (tests/test_storage_testdriver.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest

from testbed import bed
from tests.conftest import need
from tests.support.apps import app_until
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.hostops import ChoiceDialog, FormDialog
from tui.ui.screens.networks import NetworksScreen
from tui.ui.screens.storage import StorageScreen

pytestmark = pytest.mark.libvirtd

PID = os.getpid()
TAG = f"kvmdeck-storage-{PID}"
BASE = Path("/var/tmp") / TAG  # 0755: QEMU (libvirt-qemu) reads the pool's files


@dataclass
class Bed:
    conn: libvirt.virConnect
    pool: str
    pool_dir: Path
    guest: str
    disk_vol: str
    files: Path  # local files to upload (this machine's side)


def _drop_pool(conn: libvirt.virConnect, name: str) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        p = conn.storagePoolLookupByName(name)
        if p.isActive():
            for v in p.listAllVolumes(0):
                with contextlib.suppress(libvirt.libvirtError):
                    v.delete(0)
            p.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            p.undefine()


def _drop_network(conn: libvirt.virConnect, name: str) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        n = conn.networkLookupByName(name)
        if n.isActive():
            n.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            n.undefine()


@pytest.fixture(scope="module")
def stbed(libvirtd: libvirt.virConnect) -> Iterator[Bed]:
    conn = libvirtd
    files = BASE / "files"
    pool_dir = BASE / "pool"
    files.mkdir(parents=True, exist_ok=True)
    pool_dir.mkdir(parents=True, exist_ok=True)
    for d in (BASE, files, pool_dir):
        os.chmod(d, 0o755)
    pool = TAG
    guest = f"{bed.PREFIX}{os.getpid()}-storage0"
    try:
        p = conn.storagePoolDefineXML(
            f"<pool type='dir'><name>{pool}</name><target><path>{pool_dir}</path></target></pool>"
        )
        p.create(0)
        vol = p.createXML(
            "<volume><name>storage-disk.qcow2</name><capacity>16777216</capacity>"
            "<target><format type='qcow2'/></target></volume>",
            0,
        )
        cdrom = (
            "    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
            "<target dev='hdc' bus='ide'/><readonly/></disk>\n"
        )
        conn.createXML(bed.guest_xml(guest, Path(vol.path()), extra_devices=cdrom), 0)
        yield Bed(conn, pool, pool_dir, guest, "storage-disk.qcow2", files)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.lookupByName(guest).destroy()
        _drop_pool(conn, pool)
        for extra in (f"{TAG}-p2",):
            _drop_pool(conn, extra)
        shutil.rmtree(BASE, ignore_errors=True)


class Notes:
    def __init__(self, app: KvmDeckApp) -> None:
        self.texts: list[str] = []
        real = app.notify

        def notify(message: str, **kw: Any) -> None:
            self.texts.append(message)
            real(message, **kw)

        app.notify = notify  # type: ignore[method-assign]

    def has(self, needle: str) -> str | None:
        return next((t for t in self.texts if needle in t), None)


def _app(readonly: bool = False, uri: str = bed.SYSTEM_URI) -> KvmDeckApp:
    return make_app(AppOptions(uris=[uri], readonly=readonly, vt_badge="KVM: test"))


async def open_storage(pilot: Any, pool: str) -> StorageScreen:
    app: KvmDeckApp = pilot.app
    await app_until(pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "the host")  # fmt: skip
    await pilot.press("S")
    screen = await app_until(
        pilot,
        lambda: isinstance(app.screen, StorageScreen) and app.screen.main_loads and app.screen,
        "the storage screen",
    )
    await select_row(pilot, "#st-pools", pool)
    await app_until(pilot, lambda: screen.details_of == pool, f"the volumes of {pool}")
    return screen


async def select_row(pilot: Any, table_id: str, key: str) -> None:
    """Move the cursor of a table to row ``key`` with the arrow keys."""
    screen = pilot.app.screen
    table = screen.query_one(table_id)
    table.focus()
    await pilot.press(*["up"] * table.cursor_row)
    for _ in range(table.row_count + 1):
        row, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        if row.value == key:
            return
        await pilot.press("down")
    raise AssertionError(f"no row {key} in {table_id}")


async def type_into(pilot: Any, field: str, text: str) -> None:
    """Focus a form field, clear it with the keys and type ``text``."""
    box = pilot.app.screen.query_one(f"#form-{field}")
    box.focus()
    await pilot.press("end", *["backspace"] * len(box.value), *text)


async def form(pilot: Any) -> FormDialog:
    return await app_until(pilot, lambda: isinstance(pilot.app.screen, FormDialog) and pilot.app.screen, "the dialog")  # fmt: skip


def volumes(b: Bed) -> dict[str, int]:
    p = b.conn.storagePoolLookupByName(b.pool)
    p.refresh(0)
    return {v.name(): v.info()[1] for v in p.listAllVolumes(0)}


# -- storage ---------------------------------------------------------------------------------
async def test_storage_lists_pool_and_volume_with_the_guest_using_it(stbed: Bed) -> None:
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_storage(pilot, stbed.pool)
        pool = screen.selected()
        assert pool is not None and pool.active and pool.path == str(stbed.pool_dir)
        assert pool.capacity > 0 and pool.available > 0
        vol = next(v for v in screen.details if v.name == stbed.disk_vol)
        assert vol.format == "qcow2" and vol.capacity == 16 << 20
        assert vol.users_text() == f"{stbed.guest} (vda)"
        table = screen.query_one("#st-vols")
        shown = "".join(table.render_line(y).text for y in range(table.size.height))
        assert stbed.disk_vol in shown and f"{stbed.guest} (vda)" in shown


async def test_volume_create_resize_delete_and_refusal_while_used(stbed: Bed) -> None:
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, stbed.pool)
        # delete refused while the guest uses it, naming the guest
        await select_row(pilot, "#st-vols", stbed.disk_vol)
        await pilot.press("d")
        said = await app_until(pilot, lambda: notes.has("is used by"), "the refusal")
        assert f"volume {stbed.disk_vol} is used by {stbed.guest} (vda)" in said
        assert not isinstance(app.screen, ConfirmScreen) and stbed.disk_vol in volumes(stbed)
        # create
        await pilot.press("n")
        await form(pilot)
        await type_into(pilot, "name", "storage-new.qcow2")
        await type_into(pilot, "size", "64M")
        await pilot.press("enter")
        await app_until(pilot, lambda: notes.has("created in"), "the new volume")
        assert volumes(stbed)["storage-new.qcow2"] == 64 << 20
        await app_until(pilot, lambda: any(v.name == "storage-new.qcow2" for v in screen.details), "its row")  # fmt: skip
        # resize (grow)
        await select_row(pilot, "#st-vols", "storage-new.qcow2")
        await pilot.press("r")
        await form(pilot)
        await type_into(pilot, "size", "96M")
        await pilot.press("enter")
        await app_until(pilot, lambda: notes.has("resized to"), "the resize")
        assert volumes(stbed)["storage-new.qcow2"] == 96 << 20
        # delete asks first; n keeps it, y deletes
        await select_row(pilot, "#st-vols", "storage-new.qcow2")
        await pilot.press("d")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await pilot.pause()
        assert "storage-new.qcow2" in volumes(stbed)
        await pilot.press("d")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await app_until(pilot, lambda: notes.has("storage-new.qcow2 deleted"), "the delete")
        assert "storage-new.qcow2" not in volumes(stbed)


async def test_dir_pool_create_stop_start_autostart(stbed: Bed) -> None:
    name, path = f"{TAG}-p2", stbed.pool_dir.parent / "p2"
    conn = stbed.conn
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, stbed.pool)
        await pilot.press("P")
        await form(pilot)
        await type_into(pilot, "name", name)
        await type_into(pilot, "path", str(path))
        await pilot.press("enter")
        await app_until(pilot, lambda: notes.has(f"storage pool {name} created"), "the pool")
        p = conn.storagePoolLookupByName(name)
        assert p.isActive() and p.autostart() and path.is_dir()
        await app_until(pilot, lambda: any(x.name == name for x in screen.items), "its row")
        await select_row(pilot, "#st-pools", name)
        await pilot.press("x")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await app_until(pilot, lambda: notes.has(f"storage pool {name} stopped"), "the stop")
        assert not p.isActive()
        await app_until(pilot, lambda: screen.selected() and not screen.selected().active, "the row")  # type: ignore[union-attr]  # fmt: skip
        await pilot.press("s")
        await app_until(pilot, lambda: notes.has(f"storage pool {name} started"), "the start")
        assert p.isActive()
        await app_until(pilot, lambda: screen.selected() and screen.selected().active, "the row")  # type: ignore[union-attr]  # fmt: skip
        await pilot.press("a")
        await app_until(pilot, lambda: notes.has("no longer starts with the host"), "autostart")
        assert not p.autostart()
        # the pool with the running guest's disk cannot be stopped
        await select_row(pilot, "#st-pools", stbed.pool)
        await pilot.press("x", "y")
        said = await app_until(pilot, lambda: notes.has("holds disks of running guests"), "the refusal")  # fmt: skip
        assert stbed.guest in said and conn.storagePoolLookupByName(stbed.pool).isActive()


@pytest.fixture
def paced_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real upload through a libvirt stream, paced by 5 ms a chunk of 256 KiB (a fake in
    timing only): on an idle machine libvirtd takes 1 GiB in under a second (measured: done
    1.02 s after Enter), before the progress can be read, a key can cancel it or Esc leave."""
    from tui.adapters.libvirt import upload as upload_mod

    real = upload_mod.upload

    def paced(*args: Any) -> str:
        *head, progress, cancelled = args

        def slow(done: int, total: int) -> None:
            progress(done, total)
            time.sleep(0.005)  # 1 GiB: 4096 chunks, 20 s at least; 512 MiB: 10 s

        return real(*head, slow, cancelled)

    monkeypatch.setattr(upload_mod, "upload", paced)


async def test_upload_shows_progress_and_cancel_leaves_nothing(
    stbed: Bed, paced_upload: None
) -> None:
    big = stbed.files / "storage-big.img"
    with open(big, "wb") as f:  # 1 GiB of data: long enough to cancel half-way
        chunk = os.urandom(1 << 20)
        for _ in range(1024):
            f.write(chunk)
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, stbed.pool)
        await pilot.press("u")
        await form(pilot)
        await type_into(pilot, "file", str(big))
        await pilot.press("enter")
        got = await app_until(
            pilot, lambda: (p := screen.upload_progress()) and p.done > 0 and p, "progress"
        )
        assert got.total == 1 << 30
        busy = screen.query_one("#ops-busy")

        def ticked() -> str:  # the busy line ticks twice a second; the rate needs two ticks
            line = str(busy.content)  # type: ignore[attr-defined]
            return line if "/s" in line and "left" in line else ""

        line = await app_until(pilot, ticked, "the busy line's rate", timeout=30)
        assert "storage-big.img" in line and "% " in line and "(c cancels)" in line
        assert "MiB of 1.0 GiB" in line
        await pilot.press("c")
        said = await app_until(pilot, lambda: notes.has("cancelled"), "the cancel", timeout=60)
        assert said == "upload of storage-big.img cancelled; the half-made volume was deleted"
        assert "storage-big.img" not in volumes(stbed)
        assert not screen.busy
    big.unlink()


async def test_upload_goes_on_after_leaving_the_screen_and_says_how_it_ended(
    stbed: Bed, paced_upload: None
) -> None:
    data = stbed.files / "storage-leave.img"
    with open(data, "wb") as f:  # 512 MiB: still under way when Esc is pressed
        chunk = os.urandom(1 << 20)
        for _ in range(512):
            f.write(chunk)
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, stbed.pool)
        await pilot.press("u")
        await form(pilot)
        await type_into(pilot, "file", str(data))
        await pilot.press("enter")
        # busy is set as the upload is submitted; paced, it takes 10 s at least
        await app_until(pilot, lambda: screen.busy, "the upload")
        await pilot.press("escape")  # back to the guest list while it runs
        assert not notes.has("uploaded to")  # it did run on after the screen went
        said = await app_until(pilot, lambda: notes.has("uploaded to"), "the end", timeout=120)
        assert said.startswith("storage-leave.img uploaded to") and not screen.is_attached
        assert app.errors.count == 0 and volumes(stbed)["storage-leave.img"] == 512 << 20
    data.unlink()


async def test_upload_iso_then_insert_and_eject_on_running_guest(stbed: Bed) -> None:
    iso = make_iso(stbed.files)
    dom = stbed.conn.lookupByName(stbed.guest)
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, stbed.pool)
        await pilot.press("u")
        await form(pilot)
        await type_into(pilot, "file", str(iso))
        await type_into(pilot, "name", "storage-boot.iso")
        await pilot.press("enter")
        await app_until(pilot, lambda: notes.has("uploaded to"), "the upload")
        assert volumes(stbed)["storage-boot.iso"] == iso.stat().st_size
        await app_until(pilot, lambda: any(v.name == "storage-boot.iso" for v in screen.details), "its row")  # fmt: skip
        await select_row(pilot, "#st-vols", "storage-boot.iso")
        await pilot.press("i")
        picker = await app_until(pilot, lambda: isinstance(app.screen, ChoiceDialog) and app.screen, "the drives")  # fmt: skip
        line = next(i for i, c in enumerate(picker.choices) if c.startswith(f"{stbed.guest} hdc"))
        await pilot.press(*["down"] * line, "enter")
        await app_until(pilot, lambda: notes.has("inserted in"), "the insert")
        path = str(stbed.pool_dir / "storage-boot.iso")
        assert f"<source file='{path}'" in dom.XMLDesc(0) and dom.isActive()
        await app_until(pilot, lambda: any(v.name == "storage-boot.iso" and v.in_use for v in screen.details), "in use")  # fmt: skip
        await pilot.press("e")
        picker = await app_until(pilot, lambda: isinstance(app.screen, ChoiceDialog) and app.screen, "the drives")  # fmt: skip
        line = next(i for i, c in enumerate(picker.choices) if c.startswith(f"{stbed.guest} hdc"))
        await pilot.press(*["down"] * line, "enter")
        await app_until(pilot, lambda: notes.has("medium ejected from"), "the eject")
        assert path not in dom.XMLDesc(0) and dom.isActive()


def make_iso(where: Path) -> Path:
    tool = shutil.which("xorriso") or shutil.which("genisoimage")
    if tool is None:
        need(bed.require_cmd, "xorriso", "xorriso")
    content = where / "iso-root"
    content.mkdir(exist_ok=True)
    (content / "README.TXT").write_text("kvmdeck storage test\n")
    iso = where / "storage-boot.iso"
    if tool and tool.endswith("xorriso"):
        argv = [tool, "-as", "mkisofs", "-quiet", "-V", "KVMDECK", "-o", str(iso), str(content)]
    else:
        argv = [str(tool), "-quiet", "-V", "KVMDECK", "-o", str(iso), str(content)]
    subprocess.run(argv, check=True, capture_output=True)
    return iso


async def test_readonly_refuses_storage_and_network_changes(stbed: Bed) -> None:
    app = _app(readonly=True)
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, stbed.pool)  # looking stays available
        assert any(v.name == stbed.disk_vol for v in screen.details)
        for key, what in (("n", "create volumes"), ("d", "delete volumes"), ("u", "upload volumes"),
                          ("x", "stop storage pools"), ("P", "create storage pools"),
                          ("i", "change CD-ROM media")):  # fmt: skip
            await pilot.press(key)
            await pilot.pause()
            assert notes.texts[-1] == f"read-only: restart without --readonly to {what}", key
            assert isinstance(app.screen, StorageScreen)
        await pilot.press("escape", "L")
        await app_until(pilot, lambda: isinstance(app.screen, NetworksScreen) and app.screen.main_loads, "networks")  # fmt: skip
        await pilot.press("n")
        await pilot.pause()
        assert notes.texts[-1] == "read-only: restart without --readonly to create networks"
        await pilot.press("x")
        await pilot.pause()
        assert notes.texts[-1] == "read-only: restart without --readonly to stop networks"
        assert isinstance(app.screen, NetworksScreen)


# -- networks --------------------------------------------------------------------------------
@pytest.fixture()
def net_name(libvirtd: libvirt.virConnect) -> Iterator[str]:
    name = f"{TAG}-net"
    yield name
    _drop_network(libvirtd, name)


async def test_networks_list_inactive_default_and_isolated_lifecycle(
    libvirtd: libvirt.virConnect, net_name: str
) -> None:
    conn = libvirtd
    subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    app = _app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        await app_until(pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "the host")  # fmt: skip
        await pilot.press("L")
        screen = await app_until(
            pilot,
            lambda: isinstance(app.screen, NetworksScreen) and app.screen.main_loads and app.screen,
            "the networks screen",
        )  # fmt: skip
        default = next((n for n in screen.items if n.name == "default"), None)
        assert default is not None and default.forward == "nat"
        assert default.active == bool(conn.networkLookupByName("default").isActive())
        await pilot.press("n")
        await form(pilot)
        await type_into(pilot, "name", net_name)
        await type_into(pilot, "address", f"{subnet}.1/24")
        await pilot.press("enter")
        said = await app_until(pilot, lambda: notes.has(f"isolated network {net_name}"), "the net")
        assert f"({subnet}.1/24, DHCP {subnet}.2-{subnet}.254)" in said
        net = conn.networkLookupByName(net_name)
        xml = net.XMLDesc(0)
        assert net.isActive() and "<forward" not in xml and f"<range start='{subnet}.2'" in xml
        await app_until(pilot, lambda: any(n.name == net_name for n in screen.items), "its row")
        await select_row(pilot, "#net-list", net_name)
        row = screen.selected()
        assert row is not None and row.forward == "isolated" and row.bridge.startswith("virbr")
        await pilot.press("x")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await app_until(pilot, lambda: notes.has(f"network {net_name} stopped"), "the stop")
        assert not net.isActive()
        await app_until(pilot, lambda: screen.selected() and not screen.selected().active, "row")  # type: ignore[union-attr]  # fmt: skip
        await pilot.press("s")
        await app_until(pilot, lambda: notes.has(f"network {net_name} started"), "the start")
        assert net.isActive()
        await app_until(pilot, lambda: screen.selected() and screen.selected().active, "row")  # type: ignore[union-attr]  # fmt: skip
        await pilot.press("a")
        await app_until(pilot, lambda: notes.has(f"network {net_name} starts with the host"), "auto")  # fmt: skip
        assert net.autostart()
        assert screen.detail_loads  # an isolated network without guests: no leases


# -- qemu+ssh:// ------------------------------------------------------------------------------
@pytest.mark.sshd
async def test_storage_over_ssh_lists_uploads_and_deletes(stbed: Bed, sshd: bed.Sshd) -> None:
    """The same keys on a qemu+ssh:// host: libvirt's APIs only (a stream for the upload), no
    shell on the remote side."""
    data = stbed.files / "storage-ssh.img"
    data.write_bytes(os.urandom(3 << 20))
    app = _app(uri=sshd.uri)
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, stbed.pool)
        assert any(v.name == stbed.disk_vol and v.in_use for v in screen.details)
        await pilot.press("u")
        await form(pilot)
        await type_into(pilot, "file", str(data))
        await pilot.press("enter")
        said = await app_until(pilot, lambda: notes.has("uploaded to"), "the upload")
        assert said == f"storage-ssh.img uploaded to {stbed.pool} as storage-ssh.img (3.0 MiB, raw)"
        assert volumes(stbed)["storage-ssh.img"] == 3 << 20
        await app_until(
            pilot, lambda: any(v.name == "storage-ssh.img" for v in screen.details), "row"
        )
        await select_row(pilot, "#st-vols", "storage-ssh.img")
        await pilot.press("d")
        await app_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await app_until(pilot, lambda: notes.has("storage-ssh.img deleted"), "the delete")
        assert "storage-ssh.img" not in volumes(stbed)
        await pilot.press("escape", "L")
        nets = await app_until(
            pilot,
            lambda: isinstance(app.screen, NetworksScreen) and app.screen.main_loads and app.screen,
            "the networks screen",
        )  # fmt: skip
        assert any(n.name == "default" for n in nets.items)
    data.unlink()


async def test_insert_and_eject_on_a_shut_off_guest_change_its_saved_config(stbed: Bed) -> None:
    conn = stbed.conn
    p = conn.storagePoolLookupByName(stbed.pool)
    cd = p.createXML(
        "<volume><name>storage-cd.iso</name><capacity>1048576</capacity>"
        "<target><format type='raw'/></target></volume>",
        0,
    )
    disk = p.createXML(
        "<volume><name>storage-off.qcow2</name><capacity>16777216</capacity>"
        "<target><format type='qcow2'/></target></volume>",
        0,
    )
    name = f"{bed.PREFIX}{PID}-storage1"
    drive = (
        "    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        "<target dev='hdc' bus='ide'/><readonly/></disk>\n"
    )
    dom = conn.defineXML(bed.guest_xml(name, Path(disk.path()), extra_devices=drive))
    try:
        app = _app()
        async with app.run_test(size=(120, 36)) as pilot:
            notes = Notes(app)
            screen = await open_storage(pilot, stbed.pool)
            await app_until(pilot, lambda: any(v.name == "storage-cd.iso" for v in screen.details), "row")  # fmt: skip
            await select_row(pilot, "#st-vols", "storage-cd.iso")
            await pilot.press("i")
            picker = await app_until(pilot, lambda: isinstance(app.screen, ChoiceDialog) and app.screen, "the drives")  # fmt: skip
            line = next(i for i, c in enumerate(picker.choices) if c.startswith(f"{name} hdc"))
            assert picker.choices[line].endswith("(shut off)")
            await pilot.press(*["down"] * line, "enter")
            said = await app_until(pilot, lambda: notes.has("inserted in"), "the insert")
            assert said == f"storage-cd.iso inserted in {name} hdc (saved config)"
            assert f"<source file='{cd.path()}'" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            await pilot.press("e")
            picker = await app_until(pilot, lambda: isinstance(app.screen, ChoiceDialog) and app.screen, "the drives")  # fmt: skip
            line = next(i for i, c in enumerate(picker.choices) if c.startswith(f"{name} hdc"))
            await pilot.press(*["down"] * line, "enter")
            said = await app_until(pilot, lambda: notes.has("medium ejected"), "the eject")
            assert said == f"medium ejected from {name} hdc (saved config)"
            assert cd.path() not in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefine()
