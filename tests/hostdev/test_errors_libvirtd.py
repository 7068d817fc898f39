"""Attach/detach failures against the real libvirtd, surfaced as HostdevError."""

from __future__ import annotations

import libvirt
import pytest

from testbed import bed
from tests.rules.helpers import attach, detach, usb
from tui.adapters.libvirt.hostdev import HostdevError, LibvirtHostdev, usb_owners
from tui.core.usb.executor import remove_stale

pytestmark = pytest.mark.libvirtd

MISSING_USB = "cannot open directory '/sys/bus/usb/devices'"


def test_live_attach_of_absent_device_gives_libvirts_error(libvirtd, guests) -> None:  # type: ignore[no-untyped-def]
    """This VM has no USB bus: libvirt's real error must come through, cleanly worded."""
    guest = guests[0].name
    dev = usb("001", "010")
    with pytest.raises(HostdevError) as info:
        attach(libvirtd, dev, live=True, config=False, guest=guest)
    err = info.value
    assert err.kind == "device-gone"
    assert MISSING_USB in err.libvirt_message
    assert err.code == libvirt.VIR_ERR_SYSTEM_ERROR
    text = str(err)
    assert text.startswith(
        f"Cannot attach FTDI FT232R USB UART (0403:6001 at bus 1 device 10) "
        f"to guest '{guest}': the device is not on the host"
    )
    assert MISSING_USB in text and "\n" not in text
    # Nothing was left behind in the guest.
    assert not [o for o in usb_owners(libvirtd).entries if o.guest == guest]


def test_config_request_on_transient_guest_still_tries_live(libvirtd, guests) -> None:  # type: ignore[no-untyped-def]
    """A transient guest has no saved config: the keep-it flag is dropped, LIVE is attempted."""
    with pytest.raises(HostdevError) as info:
        attach(libvirtd, usb(), live=True, config=True, guest=guests[1].name)
    assert info.value.kind == "device-gone"  # the LIVE call ran (and failed on the host side)
    assert "transient" not in info.value.libvirt_message


def test_unknown_guest(libvirtd) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HostdevError) as info:
        attach(libvirtd, usb(), guest=f"{bed.PREFIX}no-such-guest")
    assert info.value.kind == "guest-gone"
    assert "Domain not found" in info.value.libvirt_message
    assert "the guest no longer exists" in str(info.value)


def test_guest_destroyed_under_us(libvirtd) -> None:  # type: ignore[no-untyped-def]
    g = bed.create_transient(libvirtd, 0, tag="gone")
    try:
        dom = libvirtd.lookupByName(g.name)
        dom.destroy()
        with pytest.raises(HostdevError) as info:
            attach(dom, usb())
        assert info.value.kind == "guest-gone"
    finally:
        bed.remove(libvirtd, g)


def test_read_only_connection_is_a_permission_error(libvirtd, persistent_guest) -> None:  # type: ignore[no-untyped-def]
    ro = libvirt.openReadOnly(bed.SYSTEM_URI)
    try:
        with pytest.raises(HostdevError) as info:
            attach(ro, usb(), config=True, guest=persistent_guest.name)
        assert info.value.kind == "permission"
        assert "read only access" in info.value.libvirt_message
    finally:
        ro.close()
    assert not usb_owners(libvirtd).owners_of(usb())


def test_detach_of_device_the_guest_does_not_hold(libvirtd, guests) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HostdevError) as info:
        detach(libvirtd, usb(), guest=guests[0].name)
    assert info.value.kind == "not-attached"


def test_remove_stale_without_owner_does_nothing(libvirtd, guests) -> None:  # type: ignore[no-untyped-def]
    owners = usb_owners(libvirtd)
    assert {g.name for g in guests} <= {d.name() for d in libvirtd.listAllDomains(0)}
    assert remove_stale(LibvirtHostdev(libvirtd), usb(), owners) == []
