"""Generated hostdev XML: numbers, schema validity, and what libvirtd reads back from it."""

from __future__ import annotations

import contextlib
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed import bed
from tests.conftest import need
from tests.rules.helpers import attach, detach, usb
from tui.adapters.libvirt.domxml import parse_domain
from tui.adapters.libvirt.hostdev import HostdevError, domain_wrapper, hostdev_xml, usb_owners


def _source(xml: str) -> ET.Element:
    src = ET.fromstring(xml).find("source")
    assert src is not None
    return src


def test_padded_devnum_is_written_decimal() -> None:
    ten = _source(hostdev_xml(usb("001", "010"), with_address=True, startup_optional=False))
    nine = _source(hostdev_xml(usb("002", "009"), with_address=True, startup_optional=False))
    assert ten.find("address").attrib == {"bus": "1", "device": "10"}  # type: ignore[union-attr]
    assert nine.find("address").attrib == {"bus": "2", "device": "9"}  # type: ignore[union-attr]
    assert ten.find("vendor").get("id") == "0x0403"  # type: ignore[union-attr]
    assert ten.find("product").get("id") == "0x6001"  # type: ignore[union-attr]


def test_address_and_startup_policy_are_optional_parts() -> None:
    xml = hostdev_xml(usb(), with_address=False, startup_optional=True)
    root = ET.fromstring(xml)
    assert root.attrib == {"mode": "subsystem", "type": "usb", "managed": "yes"}
    src = _source(xml)
    assert src.get("startupPolicy") == "optional"
    assert src.find("address") is None
    live = _source(hostdev_xml(usb(), with_address=True, startup_optional=False))
    assert "startupPolicy" not in live.attrib


def test_device_without_numbers_cannot_be_named_by_address() -> None:
    with pytest.raises(HostdevError) as info:
        hostdev_xml(usb("000", "000"), with_address=True, startup_optional=False)
    assert info.value.kind == "invalid"
    assert "no bus/device number" in str(info.value)


@given(bus=st.integers(1, 255), devnum=st.integers(1, 127), vendor=st.integers(0, 0xFFFF))
def test_any_padded_number_round_trips_through_the_parser(
    bus: int, devnum: int, vendor: int
) -> None:
    """udev's "%03d" strings, decoded decimal, written and parsed back as libvirt would."""
    dev = usb(f"{bus:03d}", f"{devnum:03d}", vendor=vendor)
    xml = hostdev_xml(dev, with_address=True, startup_optional=True)
    (entry,) = parse_domain(domain_wrapper(xml)).usb_hostdevs
    assert (entry.bus, entry.device, entry.vendor) == (bus, devnum, vendor)
    addr = _source(xml).find("address")
    assert addr is not None and not addr.get("device", "").startswith("0")


def _validate(tmp_path: Path, name: str, document: str) -> subprocess.CompletedProcess[str]:
    tool = need(bed.require_cmd, "virt-xml-validate", "libvirt-clients")
    need(bed.require_cmd, "xmllint", "libxml2-utils")  # virt-xml-validate is a shell script
    path = tmp_path / f"{name}.xml"
    path.write_text(document)
    return subprocess.run([tool, str(path), "domain"], capture_output=True, text=True)


@pytest.mark.parametrize("with_address", [True, False])
@pytest.mark.parametrize("optional", [True, False])
@pytest.mark.parametrize("devnum", ["010", "009", "127"])
def test_generated_xml_passes_libvirt_schema(
    tmp_path: Path, with_address: bool, optional: bool, devnum: str
) -> None:
    xml = hostdev_xml(usb("003", devnum), with_address=with_address, startup_optional=optional)
    done = _validate(tmp_path, "hd", domain_wrapper(xml))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validates" in done.stdout + done.stderr


def test_schema_check_is_not_vacuous(tmp_path: Path) -> None:
    """The same wrapper with a broken hostdev must be refused, or the test above proves nothing."""
    bad = "<hostdev mode='subsystem' type='usb'><source><vendor id='zz'/></source></hostdev>"
    done = _validate(tmp_path, "bad", domain_wrapper(bad))
    assert done.returncode != 0


@pytest.mark.libvirtd
def test_config_attach_numbers_survive_libvirt(libvirtd, persistent_guest) -> None:  # type: ignore[no-untyped-def]
    """AFFECT_CONFIG to a shut-off persistent guest succeeds here; read the saved XML back.

    Two identical devices are present (devnum "010" and "009"), so the saved entries carry the
    address, and libvirt must read them as ten and nine (not octal 8 / a refusal).
    """
    dom = libvirtd.lookupByName(persistent_guest.name)
    ten, nine = usb("001", "010", port="1-1"), usb("001", "009", port="1-2")
    present = [ten, nine]
    try:
        r1 = attach(
            libvirtd, ten, live=True, config=False, guest=persistent_guest.name, present=present
        )
        r2 = attach(dom, nine, live=True, config=False, present=present)
        assert (r1.live, r1.config) == (False, True)  # shut off: CONFIG only
        assert (r2.live, r2.config) == (False, True)
        saved = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        root = ET.fromstring(saved)
        addrs = [
            (s.get("startupPolicy"), s.find("vendor").get("id"), s.find("address").attrib)  # type: ignore[union-attr]
            for s in root.findall("devices/hostdev/source")
        ]
        assert addrs == [
            ("optional", "0x0403", {"bus": "1", "device": "10"}),
            ("optional", "0x0403", {"bus": "1", "device": "9"}),
        ]
        # The same again is a no-op with a note, not libvirt's "already in the configuration".
        again = attach(dom, ten, config=True, present=present)
        assert not again.changed and "already" in again.note
        owners = usb_owners(libvirtd)
        mine = [o for o in owners.entries if o.guest == persistent_guest.name]
        assert [(o.hostdev.bus, o.hostdev.device, o.live, o.config) for o in mine] == [
            (1, 10, False, True),
            (1, 9, False, True),
        ]
        assert owners.by_address[(1, 10)] == persistent_guest.name
        assert owners.owners_of(nine)[0].guest == persistent_guest.name
    finally:
        for d in (ten, nine):
            with contextlib.suppress(HostdevError):
                detach(dom, d, config=True)
    assert parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).usb_hostdevs == ()


@pytest.mark.libvirtd
def test_config_entry_without_twin_is_ids_only(libvirtd, persistent_guest) -> None:  # type: ignore[no-untyped-def]
    """Alone on the host, the saved entry is vendor:product (devnum goes stale on replug)."""
    dom = libvirtd.lookupByName(persistent_guest.name)
    dev = usb("001", "010")
    try:
        result = attach(dom, dev, config=True, present=[dev])
        assert result.calls and result.calls[0][1] == libvirt.VIR_DOMAIN_AFFECT_CONFIG
        (entry,) = parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).usb_hostdevs
        assert (entry.vendor, entry.product, entry.bus, entry.device) == (
            0x0403,
            0x6001,
            None,
            None,
        )
        assert entry.startup_policy == "optional"
        # A replug (new devnum "009") finds it already saved: nothing to add.
        replug = attach(dom, usb("001", "009"), config=True)
        assert not replug.changed and "already" in replug.note
        gone = detach(dom, usb("001", "009"), config=True)
        assert gone.config and not gone.live
    finally:
        with contextlib.suppress(HostdevError):
            detach(dom, dev, config=True)
    assert parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).usb_hostdevs == ()
