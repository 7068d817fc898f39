"""Twins (identical devices) and rules by port alone: a rule that matches several present
devices attaches none of them and says how to tell them apart; attaches always name the device
by its bus/device address (libvirt refuses vendor:product alone for twins: "Multiple USB devices
for 627:1, use <address>")."""

from __future__ import annotations

import libvirt

from tests.rules.helpers import RecordingConn, RecordingDomain, event, usb
from tests.rules.test_coordinator import Harness, attaches, until
from tui.core.usb.engine import AttachRequest, RuleEngine, format_status
from tui.core.usb.rules import Rule

IDS = Rule(0x0403, 0x6001, "win")
A = usb("001", "010", port="1-1")
B = usb("001", "011", port="1-2")  # the same model and the same serial (cheap clones)


def test_a_rule_matching_two_present_devices_attaches_none() -> None:
    eng = RuleEngine([IDS])
    assert eng.sync([A, B], {"win": True}, {}) == []
    (status,) = eng.statuses()
    assert format_status(status) == (
        "rule 0403:6001 → win: ambiguous — matches 2 devices (1-1, 1-2): add port to the rule "
        "(none is attached by it)"
    )
    assert eng.on_guest_event("win", "started") == []  # nor when the guest starts
    assert eng.tick() == []


def test_distinct_serials_suggest_serial_or_port() -> None:
    eng = RuleEngine([IDS])
    b = usb("001", "011", port="1-10", serial="OTHER")
    assert eng.sync([b, A], {"win": True}, {}) == []
    assert eng.statuses()[0].message == (
        "matches 2 devices (1-1, 1-10): add serial or port to the rule (none is attached by it)"
    )


def test_a_twin_plugged_later_is_not_attached_and_the_first_stays() -> None:
    eng = RuleEngine([IDS])
    (req,) = eng.sync([A], {"win": True}, {})
    assert isinstance(req, AttachRequest) and req.device == A
    assert eng.on_result(req, None) == []
    assert eng.on_usb_events([event("add", B)]) == []
    (status,) = eng.statuses()
    assert status.state == "ambiguous"
    assert status.message.endswith("(1-1 stays attached, no other is attached by it)")
    assert eng.attached == {A.key: "win"}  # never detached for being ambiguous


def test_when_one_twin_leaves_the_other_is_attached() -> None:
    eng = RuleEngine([IDS])
    assert eng.sync([A, B], {"win": True}, {}) == []
    (req,) = eng.on_usb_events([event("remove", A)])
    assert isinstance(req, AttachRequest)
    assert (req.device, req.reason) == (B, "twin unplugged")


def test_rules_by_port_tell_twins_apart() -> None:
    left, right = Rule(None, None, "win", port="1-1"), Rule(0x0403, 0x6001, "lab", port="1-2")
    eng = RuleEngine([left, right])
    reqs = eng.sync([A, B], {"win": True, "lab": True}, {})
    assert sorted((r.guest, r.device.port) for r in reqs) == [("lab", "1-2"), ("win", "1-1")]
    assert all(s.state == "attaching" for s in eng.statuses())


def test_a_specific_rule_first_leaves_one_device_to_the_ids_rule() -> None:
    """rule 1 takes the device at 1-2; the ids rule is then the first match of 1-1 only."""
    eng = RuleEngine([Rule(None, None, "lab", port="1-2"), IDS])
    reqs = eng.sync([A, B], {"win": True, "lab": True}, {})
    assert sorted((r.guest, r.device.port) for r in reqs) == [("lab", "1-2"), ("win", "1-1")]


def test_port_rule_takes_whatever_is_plugged_into_that_port() -> None:
    front = Rule(None, None, "kiosk", port="2-1.3")
    eng = RuleEngine([front])
    assert eng.sync([], {"kiosk": True}, {}) == []
    stick = usb("002", "005", port="2-1.3")
    (req,) = eng.on_usb_events([event("add", stick)])
    assert req.device == stick and eng.on_result(req, None) == []
    assert (
        format_status(eng.statuses()[0]) == "rule port 2-1.3 → kiosk: attached — attached to kiosk"
    )
    eng.on_usb_events([event("remove", stick)])
    other = usb("002", "009", vendor=0x046D, product=0xC52B, port="2-1.3", serial="")
    (req,) = eng.on_usb_events([event("add", other)])
    assert isinstance(req, AttachRequest) and req.device == other
    assert eng.on_usb_events([event("add", usb("002", "010", port="2-1.4"))]) == []
    hub = usb("002", "001", vendor=0x1D6B, product=0x0002, port="2-1.3")
    assert RuleEngine([front]).sync([hub], {"kiosk": True}, {}) == []  # root hubs never


async def test_twin_attaches_by_address_live_and_in_the_saved_config() -> None:
    """The executor names the device by bus/device, live and (a twin is present) in the
    saved config too, where vendor:product alone would be ambiguous."""
    win = RecordingDomain("win", active=True, persistent=True)
    h = Harness(RecordingConn([win]), [Rule(None, None, "win", port="1-2", persistent=True)])
    h.coord.set_devices([A, B])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass")
    await h.idle()
    live, config = ((xml, f) for verb, xml, f in win.calls if verb == "attach")
    assert (
        live[1] == libvirt.VIR_DOMAIN_AFFECT_LIVE and config[1] == libvirt.VIR_DOMAIN_AFFECT_CONFIG
    )
    for xml, _flags in (live, config):
        assert "<address bus='1' device='11'/>" in xml, xml
    assert h.coord.status_lines() == [
        "rule port 1-2 → win (persistent): attached — attached to win"
    ]


async def test_twins_through_the_coordinator_attach_nothing_and_say_why() -> None:
    win = RecordingDomain("win", active=True, persistent=True)
    h = Harness(RecordingConn([win]), [IDS])
    h.coord.set_devices([A, B])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass")
    await h.idle()
    assert attaches(win) == []
    assert h.coord.status_lines() == [
        "rule 0403:6001 → win: ambiguous — matches 2 devices (1-1, 1-2): add port to the rule "
        "(none is attached by it)"
    ]
    h.coord.usb_events([event("remove", A)])
    await h.idle()
    assert len(attaches(win)) == 1 and "device='11'" in attaches(win)[0]
