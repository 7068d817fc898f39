"""The success paths of LIVE attach/detach, against a recording fake domain.

They cannot be shown against the real daemon here: this VM has no /sys/bus/usb (libvirtd
refuses every live USB attach with "cannot open directory '/sys/bus/usb/devices'"), and the test
driver has no attachDeviceFlags at all. So these tests assert the exact XML and AFFECT flags we
send; tests/hostdev/test_xml.py proves libvirtd accepts and reads back the same XML (CONFIG),
and test_errors_libvirtd.py shows the real refusal.
"""

from __future__ import annotations

import libvirt
import pytest

from tests.rules.helpers import (
    FakeLibvirtError,
    RecordingConn,
    RecordingDomain,
    attach,
    detach,
    usb,
)
from tui.adapters.libvirt.hostdev import HostdevError, LibvirtHostdev, usb_owners
from tui.core.usb.engine import AttachRequest, DetachRequest
from tui.core.usb.executor import execute, move, plan_attach, remove_stale
from tui.core.usb.rules import Rule

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG

LIVE_XML_1_10 = """<hostdev mode='subsystem' type='usb' managed='yes'>
  <source>
    <vendor id='0x0403'/>
    <product id='0x6001'/>
    <address bus='1' device='10'/>
  </source>
</hostdev>"""
CONFIG_XML_IDS = """<hostdev mode='subsystem' type='usb' managed='yes'>
  <source startupPolicy='optional'>
    <vendor id='0x0403'/>
    <product id='0x6001'/>
  </source>
</hostdev>"""
CONFIG_XML_1_10 = """<hostdev mode='subsystem' type='usb' managed='yes'>
  <source startupPolicy='optional'>
    <vendor id='0x0403'/>
    <product id='0x6001'/>
    <address bus='1' device='10'/>
  </source>
</hostdev>"""


def test_running_guest_live_only() -> None:
    dom = RecordingDomain("win", active=True, persistent=True)
    result = attach(dom, usb("001", "010"), live=True, config=False)
    assert dom.calls == [("attach", LIVE_XML_1_10, LIVE)]
    assert (result.live, result.config, result.note) == (True, False, "")


def test_running_persistent_guest_live_and_config() -> None:
    """LIVE names the device by address; the saved entry by vendor:product (startup optional)."""
    dom = RecordingDomain("win", active=True, persistent=True)
    result = attach(dom, usb("001", "010"), live=True, config=True)
    assert dom.calls == [("attach", LIVE_XML_1_10, LIVE), ("attach", CONFIG_XML_IDS, CONFIG)]
    assert (result.live, result.config) == (True, True)


def test_twin_present_puts_the_address_into_the_config_too() -> None:
    dom = RecordingDomain("win", active=True, persistent=True)
    twin = usb("001", "011", port="1-3")
    attach(dom, usb("001", "010"), live=True, config=True, present=[usb("001", "010"), twin])
    assert dom.calls == [("attach", LIVE_XML_1_10, LIVE), ("attach", CONFIG_XML_1_10, CONFIG)]


def test_replug_when_config_already_holds_it_is_live_only() -> None:
    """libvirt refuses a second config entry, so a replug (new devnum 9) attaches LIVE only."""
    dom = RecordingDomain("win", active=True, persistent=True, config_hostdevs=[CONFIG_XML_IDS])
    result = attach(dom, usb("001", "009"), live=True, config=True)
    assert dom.calls == [("attach", LIVE_XML_1_10.replace("'10'", "'9'"), LIVE)]
    assert "already in the guest's saved config" in result.note
    assert (result.live, result.config) == (True, False)


def test_shut_off_guest_gets_config_only() -> None:
    dom = RecordingDomain("win", active=False, persistent=True)
    result = attach(dom, usb("001", "010"), live=True, config=False)
    assert dom.calls == [("attach", CONFIG_XML_IDS, CONFIG)]
    assert (result.live, result.config) == (False, True)
    assert "shut off" in result.note


def test_transient_guest_never_gets_config() -> None:
    dom = RecordingDomain("t", active=True, persistent=False)
    result = attach(dom, usb(), live=True, config=True)
    assert [f for _a, _x, f in dom.calls] == [LIVE]
    assert "transient" in result.note


def test_config_failure_after_live_success_is_reported_not_raised() -> None:
    boom = FakeLibvirtError(
        "Requested operation is not valid: device is already in the domain configuration",
        libvirt.VIR_ERR_OPERATION_INVALID,
    )
    dom = RecordingDomain("win", active=True, persistent=True, fail={CONFIG: boom})
    result = attach(dom, usb(), live=True, config=True)
    assert result.live and not result.config
    assert "already holds it" in result.config_error


@pytest.mark.parametrize(
    ("message", "code", "kind"),
    [
        (
            "internal error: unable to execute QEMU command 'device_add': failed to find host usb "
            "device 1:10",
            libvirt.VIR_ERR_INTERNAL_ERROR,
            "device-gone",
        ),
        (
            "internal error: unable to execute QEMU command 'device_add': Bus 'usb.0' not found",
            libvirt.VIR_ERR_INTERNAL_ERROR,
            "refused",
        ),
        (
            "Requested operation is not valid: USB device 001:010 is in use by driver QEMU, "
            "domain other",
            libvirt.VIR_ERR_OPERATION_INVALID,
            "in-use",
        ),
        (
            "Failed to open file '/dev/bus/usb/001/010': Permission denied",
            libvirt.VIR_ERR_SYSTEM_ERROR,
            "permission",
        ),
    ],
)
def test_live_refusals_are_classified(message: str, code: int, kind: str) -> None:
    dom = RecordingDomain(
        "win", active=True, persistent=False, fail={LIVE: FakeLibvirtError(message, code)}
    )
    with pytest.raises(HostdevError) as info:
        attach(dom, usb())
    assert info.value.kind == kind
    assert info.value.libvirt_message == message
    assert str(info.value).endswith(f"libvirt: {message}")


def test_plan_table() -> None:
    def flags(active: bool, persistent: bool, config: bool, holds: bool) -> tuple[bool, bool]:
        p = plan_attach(
            active=active, persistent=persistent, live=True, config=config, config_holds=holds
        )
        return (p.live, p.config)

    assert flags(True, True, True, False) == (True, True)
    assert flags(True, True, True, True) == (True, False)  # replug: LIVE only
    assert flags(True, False, True, False) == (True, False)  # transient
    assert flags(False, True, False, False) == (False, True)  # shut off: CONFIG only
    assert flags(False, True, True, True) == (False, False)  # nothing left to do


def test_detach_uses_the_entry_as_the_domain_holds_it() -> None:
    dom = RecordingDomain(
        "win",
        active=True,
        persistent=True,
        live_hostdevs=[LIVE_XML_1_10],
        config_hostdevs=[CONFIG_XML_IDS],
    )
    result = detach(dom, usb("001", "010"), live=True, config=True)
    assert dom.calls == [("detach", LIVE_XML_1_10, LIVE), ("detach", CONFIG_XML_IDS, CONFIG)]
    assert (result.live, result.config) == (True, True)


def test_owners_merge_live_and_saved_and_stale_removal_is_live_only() -> None:
    """After an unplug, only the running guest's live entry is removed; configs stay."""
    win = RecordingDomain(
        "win",
        active=True,
        persistent=True,
        live_hostdevs=[LIVE_XML_1_10],
        config_hostdevs=[CONFIG_XML_IDS],
    )
    off = RecordingDomain(
        "off",
        active=False,
        persistent=True,
        config_hostdevs=[CONFIG_XML_IDS],
        uuid="6f1c2d7e-0000-4000-8000-000000000002",
    )
    conn = RecordingConn([win, off])
    owners = usb_owners(conn)
    assert [(o.guest, o.live, o.config) for o in owners.entries] == [
        ("win", True, True),
        ("off", False, True),
    ]
    assert owners.by_address == {(1, 10): "win"}
    assert owners.by_ids == {(0x0403, 0x6001): "off"}
    assert owners.live_map([usb("001", "010"), usb("001", "011", port="1-4")]) == {
        usb("001", "010").key: "win"
    }
    done = remove_stale(LibvirtHostdev(conn), usb("001", "010"), owners)
    assert [(r.guest, r.live, r.config) for r in done] == [("win", True, False)]
    assert win.calls == [("detach", LIVE_XML_1_10, LIVE)] and off.calls == []


def test_execute_maps_requests_to_flags() -> None:
    win = RecordingDomain("win", active=True, persistent=True)
    port = LibvirtHostdev(RecordingConn([win]))
    rule = Rule(0x0403, 0x6001, "win", persistent=True)
    res = execute(port, AttachRequest("win", usb(), True, rule, "plugged"))
    assert res is not None and (res.live, res.config) == (True, True)
    assert win.live_hostdevs == [LIVE_XML_1_10] and win.config_hostdevs == [CONFIG_XML_IDS]
    # Detach after unplug: LIVE only, the saved entry stays.
    win.calls.clear()
    gone = execute(port, DetachRequest("win", usb(), rule))
    assert gone is not None and (gone.live, gone.config) == (True, False)
    assert win.calls == [("detach", LIVE_XML_1_10, LIVE)]
    # Again: the guest no longer lists it -> done, no error, no call.
    win.calls.clear()
    assert execute(port, DetachRequest("win", usb(), rule)) is None
    assert win.calls == []


def test_move_detaches_live_then_attaches_to_the_other_guest() -> None:
    win = RecordingDomain("win", active=True, persistent=True, live_hostdevs=[LIVE_XML_1_10])
    lab = RecordingDomain("lab", active=True, persistent=False, uuid="6f1c2d7e-0000-4000-8000-3")
    port = LibvirtHostdev(RecordingConn([win, lab]))
    result = move(port, usb(), "win", "lab")
    assert win.calls == [("detach", LIVE_XML_1_10, LIVE)] and win.live_hostdevs == []
    assert lab.calls == [("attach", LIVE_XML_1_10, LIVE)]
    assert (result.guest, result.live) == ("lab", True)


def test_port_without_connection_says_so() -> None:
    port = LibvirtHostdev(None)
    with pytest.raises(HostdevError) as info:
        port.inspect("win")
    assert info.value.kind == "not-connected"
