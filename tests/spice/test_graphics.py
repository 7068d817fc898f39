"""Resolving a guest's display: pure XML cases, then a real guest on libvirtd."""

from __future__ import annotations

import libvirt
import pytest

from testbed import bed
from tui.adapters.libvirt.connection import silence_libvirt_errors
from tui.adapters.libvirt.graphics import DisplayError, resolve_display, target_from_xml


def _xml(devices: str, name: str = "g1") -> str:
    return f"<domain type='qemu'><name>{name}</name><devices>{devices}</devices></domain>"


SPICE = (
    "<graphics type='spice' port='5901' tlsPort='5902' autoport='yes' listen='127.0.0.1' "
    "passwd='hunter2'><listen type='address' address='127.0.0.1'/></graphics>"
)
VNC = "<graphics type='vnc' port='5905' autoport='yes' listen='0.0.0.0'/>"


def test_spice_is_preferred_over_vnc() -> None:
    t = target_from_xml(_xml(VNC + SPICE), "hv1")
    assert (t.type, t.host, t.port, t.tls_port, t.password) == (
        "spice",
        "127.0.0.1",
        5901,
        5902,
        "hunter2",
    )
    assert t.title == "g1 on hv1"
    assert "hunter2" not in repr(t)


def test_vnc_is_the_fallback_and_wildcard_becomes_loopback() -> None:
    t = target_from_xml(_xml(VNC + "<graphics type='sdl'/>"), "hv1")
    assert (t.type, t.host, t.port, t.password) == ("vnc", "127.0.0.1", 5905, None)


def test_unix_socket_display() -> None:
    sock = "/var/lib/libvirt/qemu/domain-1-g1/spice.sock"
    t = target_from_xml(
        _xml(f"<graphics type='spice'><listen type='socket' socket='{sock}'/></graphics>"), "hv"
    )
    assert (t.host, t.port, t.socket) == (None, None, sock)


def test_read_only_target_has_no_password() -> None:
    t = target_from_xml(_xml(SPICE), "hv1", password_known=False)
    assert t.password is None and not t.password_known


@pytest.mark.parametrize(
    ("devices", "words"),
    [
        ("", "has no SPICE or VNC display"),
        ("<graphics type='egl-headless'/>", "graphics: egl-headless"),
        ("<graphics type='spice' port='-1' autoport='yes'/>", "not assigned a SPICE port yet"),
        (
            "<graphics type='spice' autoport='no'><listen type='none'/></graphics>",
            "listens nowhere",
        ),
    ],
)
def test_clear_errors(devices: str, words: str) -> None:
    with pytest.raises(DisplayError, match=words):
        target_from_xml(_xml(devices), "hv")


# -- real libvirtd ------------------------------------------------------------------------------


@pytest.mark.libvirtd
def test_live_guest_display_with_password(libvirtd, spice_guest: bed.Guest) -> None:  # type: ignore[no-untyped-def]
    t = resolve_display(libvirtd, spice_guest.name, readonly=False)
    assert t.type == "spice" and t.host == "127.0.0.1"
    assert t.port is not None and t.port >= 5900
    assert t.password == spice_guest.password
    assert t.hostname == libvirtd.getHostname()


@pytest.mark.libvirtd
def test_read_only_connection_gives_no_password(libvirtd, spice_guest: bed.Guest) -> None:  # type: ignore[no-untyped-def]
    silence_libvirt_errors()
    ro = libvirt.openReadOnly(bed.SYSTEM_URI)
    try:
        t = resolve_display(ro, spice_guest.name, readonly=True)
        assert t.password is None and not t.password_known and t.port
        # Asking for the secure XML anyway falls back instead of failing.
        t2 = resolve_display(ro, spice_guest.name, readonly=False)
        assert t2.password is None and not t2.password_known
    finally:
        ro.close()


@pytest.mark.libvirtd
def test_shut_off_guest_is_not_running(libvirtd, persistent_guest: bed.Guest) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DisplayError, match="is not running"):
        resolve_display(libvirtd, persistent_guest.name, readonly=False)


@pytest.mark.libvirtd
def test_unknown_guest(libvirtd) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DisplayError, match="kvmdeck-t-nope"):
        resolve_display(libvirtd, "kvmdeck-t-nope", readonly=False)
