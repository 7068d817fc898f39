"""--demo: volume upload, volume resize and CD-ROM media on libvirt's test driver, which refuses
all three ("this function is not supported by the connection driver"); the demo answers them
(tui/adapters/demo/storage.py) through the real storage adapter's own checks and messages.

The adapter on a fresh in-memory demo host per test, the keys on the demo app, and a real host
(qemu:///system) in demo mode, which keeps the real family.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from rich.console import Console

from tests.provision.test_provision_ui import Notes
from tests.support.apps import app_until, demo_app
from tests.test_storage_libvirtd import select_row, type_into
from tui.adapters.demo.media import DemoMedia
from tui.adapters.demo.storage import DemoStorage
from tui.adapters.libvirt.connection import demo_uri, silence_libvirt_errors
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.storage import LibvirtStorage
from tui.model.backend import BackendError
from tui.ui.app import KvmDeckApp

ROUTER = "6b1c0a3e-0d7e-4c1a-9e1b-000000000004"  # router-lab: running, netinst.iso in sda
WIN11 = "6b1c0a3e-0d7e-4c1a-9e1b-000000000003"  # win11-desktop: shut off, sdb empty
NETINST = "/var/lib/libvirt/images/debian-12.7-netinst.iso"


@pytest.fixture()
def conn() -> Iterator[libvirt.virConnect]:
    silence_libvirt_errors()
    c = libvirt.open(demo_uri())  # a fresh in-memory copy of the demo host per open
    yield c
    c.close()


@pytest.fixture()
def ops(conn: libvirt.virConnect) -> DemoStorage:
    return DemoStorage(fixed(conn), demo_uri(), DemoMedia())


def vol(ops: LibvirtStorage, pool: str, name: str) -> Any:
    return next((v for v in ops.volumes(pool) if v.name == name), None)


# -- the adapter ---------------------------------------------------------------------------
def test_upload_reads_the_file_with_progress_and_the_volume_holds_it(
    ops: DemoStorage, tmp_path: Path
) -> None:
    src = tmp_path / "demo-up.img"
    src.write_bytes(os.urandom(1_000_000))
    before = {p.name: p for p in ops.pools()}["backups"]
    seen: list[tuple[int, int]] = []
    said = ops.upload("backups", "demo-up.img", str(src), lambda d, t: seen.append((d, t)), lambda: False)  # fmt: skip
    assert said == "demo-up.img uploaded to backups as demo-up.img (977 KiB, raw) (demo)"
    assert seen[0] == (0, 1_000_000) and seen[-1] == (1_000_000, 1_000_000)
    assert [d for d, _ in seen] == sorted({d for d, _ in seen}) and len(seen) == 5  # 4 chunks
    got = vol(ops, "backups", "demo-up.img")
    assert (got.capacity, got.allocation, got.format) == (1_000_000, 1_000_000, "raw")
    after = {p.name: p for p in ops.pools()}["backups"]
    assert after.allocation == before.allocation + 1_000_000
    assert after.available == before.available - 1_000_000


def test_uploaded_qcow2_has_its_virtual_size_as_capacity(ops: DemoStorage, tmp_path: Path) -> None:
    src = tmp_path / "demo.qcow2"
    src.write_bytes(b"QFI\xfb" + bytes(20) + struct.pack(">Q", 20 << 30) + bytes(65504))
    said = ops.upload("default", "demo.qcow2", str(src), lambda d, t: None, lambda: False)
    assert said.endswith("(64.0 KiB, qcow2) (demo)")
    got = vol(ops, "default", "demo.qcow2")
    assert (got.capacity, got.allocation, got.format) == (20 << 30, 65536, "qcow2")


def test_cancelled_upload_and_refusals_are_the_real_adapters(
    ops: DemoStorage, tmp_path: Path
) -> None:
    src = tmp_path / "demo-c.img"
    src.write_bytes(os.urandom(600_000))
    calls: list[int] = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 1  # after the first chunk

    with pytest.raises(BackendError) as err:
        ops.upload("backups", "demo-c.img", str(src), lambda d, t: None, cancelled)
    assert err.value.message == "upload of demo-c.img cancelled; the half-made volume was deleted"
    assert vol(ops, "backups", "demo-c.img") is None
    with pytest.raises(BackendError, match="already exists"):
        ops.upload("default", "scratch.raw", str(src), lambda d, t: None, lambda: False)
    (tmp_path / "empty").touch()
    with pytest.raises(BackendError, match="is empty"):
        ops.upload("backups", "e", str(tmp_path / "empty"), lambda d, t: None, lambda: False)


def test_resize_grows_and_refuses_a_shrink_as_the_real_adapter(
    conn: libvirt.virConnect, ops: DemoStorage
) -> None:
    before = vol(ops, "default", "scratch.raw")
    said = ops.resize_volume("default", "scratch.raw", 16 << 30)
    assert said == "volume scratch.raw in default resized to 16.0 GiB (demo)"
    got = vol(ops, "default", "scratch.raw")
    assert (got.capacity, got.allocation, got.path) == (16 << 30, before.allocation, before.path)
    assert conn.storagePoolLookupByName("default").storageVolLookupByName("scratch.raw").info()[1] == 16 << 30  # fmt: skip
    assert ops.resize_volume("default", "scratch.raw", 16 << 30) == "volume scratch.raw is already 16.0 GiB"  # fmt: skip
    # the same refusals, word for word, as LibvirtStorage on libvirtd
    real = LibvirtStorage(fixed(conn))
    for who in (ops, real):
        with pytest.raises(BackendError) as err:
            who.resize_volume("default", "scratch.raw", 1 << 30)
        assert err.value.message == (
            "volume scratch.raw is 16.0 GiB: shrinking loses data, so kvmdeck only grows"
            " volumes; choose a larger size"
        )
        with pytest.raises(BackendError, match=r"in use by running guest web-frontend \(vda\)"):
            who.resize_volume("default", "web-frontend.qcow2", 100 << 30)
    assert vol(ops, "default", "scratch.raw").capacity == 16 << 30
    # a volume a shut-off guest uses keeps its user
    said = ops.resize_volume("default", "archive.qcow2", 300 << 30)
    assert said.endswith("resized to 300 GiB (demo)")
    assert vol(ops, "default", "archive.qcow2").users_text() == "archive (vda)"


def test_media_eject_and_insert_running_and_shut_off(
    conn: libvirt.virConnect, ops: DemoStorage
) -> None:
    assert ops.eject_media(ROUTER, "sda") == "medium ejected from router-lab sda (demo)"
    drives = {d.guest: d for d in ops.cdroms()}
    assert drives["router-lab"].source == "" and drives["router-lab"].running
    dom = conn.lookupByName("router-lab")
    assert "netinst" not in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)  # the saved config
    assert ops.media.of(ROUTER) == {"sda": ""}  # the running guest's, kept by the demo
    assert not vol(ops, "default", "debian-12.7-netinst.iso").in_use
    said = ops.insert_media(WIN11, "sdb", NETINST)
    assert said == "debian-12.7-netinst.iso inserted in win11-desktop sdb (saved config) (demo)"
    assert f"<source file='{NETINST}'/>" in conn.lookupByName("win11-desktop").XMLDesc(0)
    assert ops.insert_media(ROUTER, "sda", NETINST).endswith("inserted in router-lab sda (demo)")
    drives = {d.guest: d for d in ops.cdroms()}
    assert drives["router-lab"].source == NETINST == drives["win11-desktop"].source
    users = vol(ops, "default", "debian-12.7-netinst.iso").users
    assert sorted((u.guest, u.running) for u in users) == [("router-lab", True), ("win11-desktop", False)]  # fmt: skip
    with pytest.raises(BackendError) as err:  # a running guest's QEMU opens the file
        ops.insert_media(ROUTER, "sda", "/nowhere/x.iso")
    assert err.value.message == (
        "cannot insert /nowhere/x.iso into sda: Cannot access storage file '/nowhere/x.iso':"
        " No such file or directory"
    )
    with pytest.raises(BackendError, match="has no CD-ROM drive vdz"):
        ops.eject_media(ROUTER, "vdz")
    # once the guest is off, its live XML is its saved config and the demo forgets its own
    ops.eject_media(ROUTER, "sda")
    dom.destroy()
    assert {d.guest: d for d in ops.cdroms()}["router-lab"].source == ""
    assert ops.media.of(ROUTER) == {}


def test_the_simulation_is_for_the_test_driver_only(conn: libvirt.virConnect) -> None:
    for uri in ("qemu:///system", "qemu+ssh://root@h/system", None):
        with pytest.raises(ValueError, match="for test:// hosts only"):
            DemoStorage(fixed(conn), uri, DemoMedia())
    plain = LibvirtStorage(fixed(conn))  # the real family on the test driver: still refused
    with pytest.raises(BackendError, match="not supported by the connection driver"):
        plain.resize_volume("default", "scratch.raw", 16 << 30)


@pytest.mark.libvirtd
async def test_a_real_host_in_demo_mode_keeps_the_real_storage(libvirtd: Any) -> None:
    """make_services(demo=True) (what --demo and `make run` use) for qemu:///system."""
    from tui.adapters.demo.host import DemoHost
    from tui.adapters.libvirt.connection import register_event_loop
    from tui.adapters.libvirt.host import LibvirtHost
    from tui.cli.wiring import make_services
    from tui.model.backend import HostEvents

    register_event_loop()  # on the session's loop, before a connection opens

    events = HostEvents(lambda e: None, lambda e: None, lambda r: None)
    services = make_services(demo=True)
    real = services.host_backend("qemu:///system", True, events)
    assert isinstance(real, LibvirtHost)
    real.open()
    try:
        storage = real.capabilities().storage
        assert type(storage) is LibvirtStorage
    finally:
        real.close()
    demo = services.host_backend(demo_uri(), True, events)
    assert isinstance(demo, DemoHost)
    demo.open()
    try:
        assert type(demo.capabilities().storage) is DemoStorage
    finally:
        demo.close()


# -- the keys, on the demo app --------------------------------------------------------------
async def open_storage(pilot: Any, pool: str) -> Any:
    from tui.ui.screens.storage import StorageScreen

    app = pilot.app
    await app_until(pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "the host")  # fmt: skip
    await pilot.press("S")
    screen = await app_until(pilot, lambda: isinstance(app.screen, StorageScreen) and app.screen.detail_loads and app.screen, "storage")  # fmt: skip
    await select_row(pilot, "#st-pools", pool)
    await app_until(pilot, lambda: screen.details_of == pool, f"the volumes of {pool}")
    return screen


async def dialog(pilot: Any, kind: type) -> Any:
    return await app_until(pilot, lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen, kind.__name__)  # fmt: skip


async def test_demo_upload_and_resize_from_the_keys(tmp_path: Path) -> None:
    from tui.ui.screens.hostops import FormDialog

    src = tmp_path / "demo-keys.img"
    src.write_bytes(os.urandom(3 << 20))
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        screen = await open_storage(pilot, "backups")
        free = screen.selected().available
        await pilot.press("u")
        await dialog(pilot, FormDialog)
        await type_into(pilot, "file", str(src))
        await pilot.press("enter")
        said = await app_until(pilot, lambda: notes.find("uploaded to"), "the upload")
        assert said == "demo-keys.img uploaded to backups as demo-keys.img (3.0 MiB, raw) (demo)"
        assert not notes.find("not supported") and app.errors.count == 0
        assert screen._progress == (3 << 20, 3 << 20)  # what the upload's thread reported
        got = await app_until(pilot, lambda: next((v for v in screen.details if v.name == "demo-keys.img"), None), "its row")  # fmt: skip
        assert (got.capacity, got.allocation) == (3 << 20, 3 << 20)
        await app_until(pilot, lambda: screen.selected().available == free - (3 << 20), "the pool's free space")  # fmt: skip
        # grow it
        await select_row(pilot, "#st-vols", "demo-keys.img")
        await pilot.press("r")
        await dialog(pilot, FormDialog)
        await type_into(pilot, "size", "8M")
        await pilot.press("enter")
        said = await app_until(pilot, lambda: notes.find("resized to"), "the resize")
        assert said == "volume demo-keys.img in backups resized to 8.0 MiB (demo)"
        await app_until(pilot, lambda: any(v.name == "demo-keys.img" and v.capacity == 8 << 20 for v in screen.details), "the new size")  # fmt: skip
        # a shrink is refused in the dialog; nothing changes
        await select_row(pilot, "#st-vols", "demo-keys.img")
        await pilot.press("r")
        form = await dialog(pilot, FormDialog)
        await type_into(pilot, "size", "1M")
        await pilot.press("enter")
        await pilot.pause()
        problem = str(form.query_one("#form-problem").content)
        assert problem == "demo-keys.img is 8.0 MiB: volumes only grow here" and form.is_attached
        await pilot.press("escape")
        assert next(v for v in screen.details if v.name == "demo-keys.img").capacity == 8 << 20


def detail_text(app: KvmDeckApp) -> str:
    out = io.StringIO()
    Console(file=out, width=160).print(app.screen.query_one("#summary").content)
    return out.getvalue()


async def guest_detail(pilot: Any, name: str) -> str:
    from tui.ui.screens.detail import GuestDetailScreen

    app = pilot.app
    key = next(k for k, s in app.table.samples.items() if s.name == name)
    app.select_guest(key)
    await pilot.press("enter")
    await app_until(pilot, lambda: isinstance(app.screen, GuestDetailScreen), "the detail")
    return detail_text(app)


async def test_demo_eject_and_insert_show_in_the_guest_detail() -> None:
    from tui.ui.screens.hostops import ChoiceDialog

    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        notes = Notes(app)
        await open_storage(pilot, "default")
        await pilot.press("e")
        picker = await dialog(pilot, ChoiceDialog)
        assert len(picker.choices) == 1 and picker.choices[0].startswith("router-lab sda")
        await pilot.press("enter")
        said = await app_until(pilot, lambda: notes.find("ejected"), "the eject")
        assert said == "medium ejected from router-lab sda (demo)"
        await pilot.press("escape")
        await guest_detail(pilot, "router-lab")
        shown = await app_until(pilot, lambda: NETINST not in (t := detail_text(app)) and t, "the detail")  # fmt: skip
        assert "Disk sda" in shown and "cdrom sata" in shown
        await pilot.press("escape")
        # the ISO into both drives: the running router-lab's and the shut-off win11-desktop's
        screen = await open_storage(pilot, "default")
        for guest in ("router-lab", "win11-desktop"):
            await select_row(pilot, "#st-vols", "debian-12.7-netinst.iso")
            await pilot.press("i")
            picker = await dialog(pilot, ChoiceDialog)
            line = next(i for i, c in enumerate(picker.choices) if c.startswith(guest))
            await pilot.press(*["down"] * line, "enter")
            await app_until(pilot, lambda g=guest: notes.find(f"inserted in {g}"), "the insert")
        assert notes.find("inserted in win11-desktop sdb (saved config) (demo)")
        iso = await app_until(pilot, lambda: next((v for v in screen.details if v.name == "debian-12.7-netinst.iso" and len(v.users) == 2), None), "both users")  # fmt: skip
        assert iso.users_text() == "router-lab (sda), win11-desktop (sdb)"
        await pilot.press("escape")
        for guest, target in (("router-lab", "sda"), ("win11-desktop", "sdb")):
            await guest_detail(pilot, guest)
            shown = await app_until(pilot, lambda: NETINST in (t := detail_text(app)) and t, f"{guest}'s detail")  # fmt: skip
            assert f"Disk {target}" in shown
            await pilot.press("escape")
        assert app.errors.count == 0 and not notes.find("not supported")
