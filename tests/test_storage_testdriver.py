"""Storage and networks (issue 21) on libvirt's test driver (the demo's node XML: pools,
volumes, networks, guests with disks, CD-ROMs and MACs) and the pure parts of the model.

The test driver has no DHCP leases, no volume resize or upload and no device updates: those
run against the real libvirtd in tests/test_storage_libvirtd.py. The lease-to-guest match is
tested here on real ``DHCPLeases()`` dicts and the demo's real domain XML.
"""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
import pytest

from tui.adapters.libvirt.connection import demo_uri, silence_libvirt_errors
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.networks import (
    LibvirtNetworks,
    interface_macs,
    isolated_xml,
    parse_leases,
)
from tui.adapters.libvirt.storage import LibvirtStorage
from tui.adapters.libvirt.storagexml import media_xml
from tui.model.backend import BackendError
from tui.model.network import match_leases, plan_isolated
from tui.model.storage import Progress, human_size, name_problem, parse_size


@pytest.fixture()
def conn() -> Iterator[libvirt.virConnect]:
    silence_libvirt_errors()
    c = libvirt.open(demo_uri())  # a fresh in-memory copy of the demo host per open
    yield c
    c.close()


def test_pools_and_volumes_with_their_users(conn: libvirt.virConnect) -> None:
    ops = LibvirtStorage(fixed(conn))
    pools = {p.name: p for p in ops.pools()}
    assert set(pools) == {"default", "backups"}
    default = pools["default"]
    assert default.active and default.kind == "dir" and default.path == "/var/lib/libvirt/images"
    assert default.capacity == default.allocation + default.available
    vols = {v.name: v for v in ops.volumes("default")}
    assert vols["web-frontend.qcow2"].users_text() == "web-frontend (vda)"
    assert vols["web-frontend.qcow2"].format == "qcow2"
    iso = vols["debian-12.7-netinst.iso"]
    assert [(u.guest, u.device, u.running) for u in iso.users] == [("router-lab", "cdrom", True)]
    assert not vols["scratch.raw"].in_use


def test_volume_create_and_delete_refused_while_used(conn: libvirt.virConnect) -> None:
    ops = LibvirtStorage(fixed(conn))
    with pytest.raises(BackendError, match=r"used by db-primary \(vda\)"):
        ops.delete_volume("default", "db-primary.qcow2")
    assert "db-primary.qcow2" in {v.name for v in ops.volumes("default")}
    said = ops.create_volume("default", "storage-new.qcow2", 2 << 30, "qcow2")
    assert said == "volume storage-new.qcow2 created in default (2.0 GiB, qcow2)"
    with pytest.raises(BackendError, match="already exists"):
        ops.create_volume("default", "storage-new.qcow2", 1 << 30, "qcow2")
    with pytest.raises(BackendError, match=r"larger than the .* free in pool default"):
        ops.create_volume("default", "huge.raw", 10 << 40, "raw")
    assert ops.delete_volume("default", "storage-new.qcow2").endswith("deleted from default")
    assert "storage-new.qcow2" not in {v.name for v in ops.volumes("default")}


def test_pool_stop_refused_while_running_guests_use_it(conn: libvirt.virConnect) -> None:
    ops = LibvirtStorage(fixed(conn))
    with pytest.raises(BackendError, match=r"running guests .*router-lab"):
        ops.stop_pool("default")
    assert ops.stop_pool("backups") == "storage pool backups stopped"
    assert {p.name: p.state for p in ops.pools()}["backups"] == "inactive"
    assert ops.volumes("backups") == ()
    assert ops.start_pool("backups") == "storage pool backups started"
    assert ops.set_pool_autostart("backups", True).endswith("starts with the host")
    assert {p.name: p.autostart for p in ops.pools()}["backups"]


def test_stopping_a_transient_pool_or_network_says_it_is_gone(conn: libvirt.virConnect) -> None:
    """A transient object is gone once stopped: whether it was is read before the stop (read
    after, libvirt says "not found" and the pool's stop ended in a bare libvirtError)."""
    conn.storagePoolCreateXML(
        "<pool type='dir'><name>dedup-transient</name>"
        "<target><path>/tmp/dedup-transient</path></target></pool>",
        0,
    )
    said = LibvirtStorage(fixed(conn)).stop_pool("dedup-transient")
    assert said == "storage pool dedup-transient stopped (it was transient: it is gone)"
    conn.networkCreateXML(
        "<network><name>dedup-transient</name><bridge name='virbr97'/>"
        "<ip address='10.97.0.1' netmask='255.255.255.0'/></network>"
    )
    said = LibvirtNetworks(fixed(conn)).stop("dedup-transient")
    assert said == "network dedup-transient stopped (it was transient: it is gone)"


def test_cdroms_and_media_xml(conn: libvirt.virConnect) -> None:
    ops = LibvirtStorage(fixed(conn))
    drives = ops.cdroms()
    assert [(d.guest, d.target, d.running) for d in drives] == [
        ("router-lab", "sda", True),
        ("win11-desktop", "sdb", False),
    ]
    assert drives[0].source.endswith("netinst.iso") and drives[1].source == ""
    dom = conn.lookupByName("router-lab")
    ejected = media_xml(dom.XMLDesc(0), "sda", None)
    assert "<source" not in ejected and 'device="cdrom"' in ejected
    inserted = media_xml(dom.XMLDesc(0), "sda", "/srv/x.iso")
    assert '<source file="/srv/x.iso" />' in inserted and "<readonly" in inserted
    with pytest.raises(BackendError, match="no CD-ROM drive vdz"):
        media_xml(dom.XMLDesc(0), "vdz", None)


def test_networks_and_isolated_create(conn: libvirt.virConnect) -> None:
    ops = LibvirtNetworks(fixed(conn))
    nets = {n.name: n for n in ops.networks()}
    assert nets["default"].forward == "nat" and nets["default"].bridge == "virbr0"
    assert nets["default"].dhcp_text() == "192.168.122.2-192.168.122.254"
    assert nets["lab-isolated"].forward == "isolated"
    said = ops.create_isolated("storage-net", "10.78.0.1/24")
    assert said == (
        "isolated network storage-net created and started (10.78.0.1/24,"
        " DHCP 10.78.0.2-10.78.0.254)"
    )
    made = {n.name: n for n in ops.networks()}["storage-net"]
    assert made.active and made.forward == "isolated" and made.addresses == ("10.78.0.1/24",)
    assert ops.stop("storage-net") == "network storage-net stopped"
    assert not {n.name: n for n in ops.networks()}["storage-net"].active
    with pytest.raises(BackendError, match="already exists"):
        ops.create_isolated("storage-net", "10.79.0.1/24")
    with pytest.raises(BackendError, match=r"write e\.g\. 10\.77\.0\.1/24"):
        ops.create_isolated("storage-net2", "10.79.0.1")


def test_leases_matched_to_guests_by_mac(conn: libvirt.virConnect) -> None:
    """libvirt's DHCPLeases() dicts (as libvirtd returns them) against the demo guests' XML."""
    macs: dict[str, str] = {}
    for dom in conn.listAllDomains(0):
        macs.update(interface_macs(dom.name(), dom.XMLDesc(0)))
    raw: list[dict[str, object]] = [
        {"iface": "virbr0", "expirytime": 1764930000, "type": 0, "mac": "52:54:00:00:00:01",
         "iaid": None, "ipaddr": "192.168.122.11", "prefix": 24, "hostname": "db",
         "clientid": "01:52:54:00:00:00:01"},
        {"iface": "virbr0", "expirytime": 1764930000, "type": 0, "mac": "52:54:00:9A:3C:11",
         "iaid": None, "ipaddr": "192.168.122.50", "prefix": 24, "hostname": None,
         "clientid": None},
    ]  # fmt: skip
    leases = match_leases(parse_leases("default", raw), macs)
    assert [(le.ip, le.guest, le.hostname) for le in leases] == [
        ("192.168.122.11/24", "db-primary", "db"),
        ("192.168.122.50/24", "", ""),
    ]
    assert LibvirtNetworks(fixed(conn)).leases("default") == ()  # the test driver has none


def test_plan_isolated_and_its_xml() -> None:
    plan = plan_isolated("n", "10.0.5.1/24")
    assert (plan.address, plan.netmask, plan.dhcp_start, plan.dhcp_end) == (
        "10.0.5.1", "255.255.255.0", "10.0.5.2", "10.0.5.254",
    )  # fmt: skip
    assert "<forward" not in isolated_xml(plan)
    last = plan_isolated("n", "10.0.5.254/24")
    assert (last.dhcp_start, last.dhcp_end) == ("10.0.5.1", "10.0.5.253")
    assert plan_isolated("n", "10.0.5.1/24", dhcp=False).dhcp_start == ""
    with pytest.raises(ValueError, match="network's own address"):
        plan_isolated("n", "10.0.5.0/24")
    with pytest.raises(ValueError, match="no room"):
        plan_isolated("n", "10.0.5.1/30")


def test_sizes_names_progress() -> None:
    assert parse_size("10G") == 10 << 30 and parse_size("512 MiB") == 512 << 20
    assert parse_size("20") == 20 << 30 and parse_size("1.5g") == 3 << 29
    with pytest.raises(ValueError, match="not a size"):
        parse_size("ten")
    assert human_size(1536) == "1.5 KiB" and human_size(0) == "0 B"
    assert name_problem("a/b") and name_problem("x", ["x"]).endswith("choose another name")
    assert name_problem("ok.qcow2") == ""
    p = Progress(done=12 << 20, total=48 << 20, elapsed=4.0)
    assert p.describe() == "25% 12.0 MiB of 48.0 MiB, 3.0 MiB/s, 12 s left"
    assert Progress(0, 10, 0.0).describe() == "0% 0 B of 10 B"


def test_failed_upload_deletes_the_volume_it_made(conn: libvirt.virConnect, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The test driver has no virStorageVolUpload: the upload fails after the volume is made,
    and the half-made volume is deleted (libvirtd's own failure path)."""
    src = tmp_path / "disk.qcow2"
    src.write_bytes(b"QFI\xfb" + bytes(4092))
    ops = LibvirtStorage(fixed(conn))
    seen: list[tuple[int, int]] = []
    with pytest.raises(BackendError) as err:
        ops.upload(
            "backups", "storage-up.qcow2", str(src), lambda d, t: seen.append((d, t)), lambda: False
        )
    assert err.value.message.startswith(
        "upload of storage-up.qcow2 failed: this function is not supported"
    )
    assert err.value.message.endswith("; the half-made volume was deleted")
    assert "storage-up.qcow2" not in {v.name for v in ops.volumes("backups")}
    with pytest.raises(BackendError, match="is empty"):
        (tmp_path / "empty").touch()
        ops.upload("backups", "e", str(tmp_path / "empty"), lambda d, t: None, lambda: False)


async def test_demo_storage_and_networks_from_the_keys() -> None:
    """--demo: S and L on the test driver through DemoHost.capabilities() (its networks lease
    the node XML's <dhcp><host> entries); a volume made from the keys shows up."""
    from tests.support.apps import app_until, demo_app
    from tui.ui.screens.hostops import FormDialog
    from tui.ui.screens.networks import NetworksScreen
    from tui.ui.screens.storage import StorageScreen

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app_until(pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "the host")  # fmt: skip
        await pilot.press("S")
        screen = await app_until(pilot, lambda: isinstance(app.screen, StorageScreen) and app.screen.detail_loads and app.screen, "storage")  # fmt: skip
        assert [p.name for p in screen.items] == ["backups", "default"]
        assert screen.details_of == "backups"
        await pilot.press("n")
        dialog = await app_until(pilot, lambda: isinstance(app.screen, FormDialog) and app.screen, "the dialog")  # fmt: skip
        await pilot.press(*"demo.qcow2", "enter")
        await app_until(pilot, lambda: any(v.name == "demo.qcow2" for v in screen.details), "the volume")  # fmt: skip
        assert not dialog.is_attached
        await pilot.press("escape", "L")
        nets = await app_until(pilot, lambda: isinstance(app.screen, NetworksScreen) and app.screen.details and app.screen, "leases")  # fmt: skip
        assert nets.details_of == "default"
        guests = {le.guest for le in nets.details}
        assert {"web-frontend", "db-primary", "router-lab"} <= guests and "archive" not in guests
