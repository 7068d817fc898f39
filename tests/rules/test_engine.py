"""The rule engine: pure decisions from USB events, guest events and results."""

from __future__ import annotations

from dataclasses import replace

from tests.rules.helpers import event, usb
from tui.adapters.libvirt.hostdev import hostdev_xml
from tui.core.usb.engine import (
    HOLD_DETACHED,
    HOLD_OUTSIDE,
    AttachRequest,
    DetachRequest,
    RuleEngine,
    format_status,
    held_elsewhere,
)
from tui.core.usb.rulelock import RulesLock
from tui.core.usb.rules import Rule

RULE = Rule(0x0403, 0x6001, "win", persistent=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def engine(*rules: Rule, running: dict[str, bool] | None = None) -> tuple[RuleEngine, Clock]:
    clock = Clock()
    eng = RuleEngine(rules or (RULE,), clock=clock)
    assert eng.sync([], running if running is not None else {"win": True}, {}) == []
    return eng, clock


def test_matching_add_asks_for_attach_at_the_current_address() -> None:
    eng, _ = engine()
    dev = usb("001", "010")
    (req,) = eng.on_usb_events([event("add", dev)])
    assert isinstance(req, AttachRequest)
    assert (req.guest, req.persistent, req.reason) == ("win", True, "plugged")
    assert (req.device.busnum, req.device.devnum) == (1, 10)
    assert "<address bus='1' device='10'/>" in hostdev_xml(
        req.device, with_address=True, startup_optional=False
    )
    assert eng.on_usb_events([event("add", dev)]) == []  # in flight: no duplicate
    assert eng.on_result(req, None) == []
    assert eng.attached == {dev.key: "win"}
    assert [s.state for s in eng.statuses()] == ["attached"]


def test_non_matching_devices_and_serial_port_filters() -> None:
    eng, _ = engine(Rule(0x0403, 0x6001, "win", serial="S1", port="1-4"))
    assert eng.on_usb_events([event("add", usb(serial="S2", port="1-4"))]) == []
    assert eng.on_usb_events([event("add", usb(serial="S1", port="1-5"))]) == []
    assert eng.on_usb_events([event("add", usb(vendor=0x046D, port="1-6"))]) == []
    assert len(eng.on_usb_events([event("add", usb(serial="S1", port="1-4"))])) == 1


def test_bind_without_add_counts_as_add_but_not_twice() -> None:
    eng, _ = engine()
    dev = usb()
    assert len(eng.on_usb_events([event("bind", dev)])) == 1
    assert eng.on_usb_events([event("bind", dev), event("change", dev)]) == []


def test_guest_off_waits_for_its_start_event() -> None:
    eng, _ = engine(running={"win": False})
    dev = usb("001", "010")
    assert eng.on_usb_events([event("add", dev)]) == []
    (status,) = eng.statuses()
    assert status.state == "pending" and "attaches when it starts" in status.message
    assert eng.on_guest_event("other", "started") == []
    (req,) = eng.on_guest_event("win", "started")
    assert isinstance(req, AttachRequest)
    assert (req.device.devnum, req.reason) == (10, "guest started")


def test_unknown_guest_is_pending_until_defined_and_started() -> None:
    eng, _ = engine(running={})
    assert eng.on_usb_events([event("add", usb())]) == []
    assert "not defined" in eng.statuses()[0].message
    assert eng.on_guest_event("win", "defined") == []
    assert len(eng.on_guest_event("win", "started")) == 1


def test_replug_reattaches_at_the_new_decimal_address() -> None:
    eng, _ = engine()
    first = usb("001", "010")
    (req,) = eng.on_usb_events([event("add", first)])
    eng.on_result(req, None)
    (gone,) = eng.on_usb_events([event("remove", first)])
    assert isinstance(gone, DetachRequest)  # drop the dead live hostdev
    assert (gone.guest, gone.device.devnum) == ("win", 10)
    eng.on_result(gone, None)
    second = usb("001", "009")
    (again,) = eng.on_usb_events([event("add", second)])
    assert isinstance(again, AttachRequest) and again.device.devnum == 9
    xml = hostdev_xml(again.device, with_address=True, startup_optional=False)
    assert "device='9'" in xml and "device='009'" not in xml


def test_remove_without_device_record_uses_the_known_one() -> None:
    eng, _ = engine()
    dev = usb()
    (req,) = eng.on_usb_events([event("add", dev)])
    eng.on_result(req, None)
    bare = replace(event("remove", dev), device=None)
    (gone,) = eng.on_usb_events([bare])
    assert isinstance(gone, DetachRequest) and gone.device == dev


def test_failure_backs_off_without_a_tight_loop() -> None:
    eng, clock = engine()
    dev = usb()
    (req,) = eng.on_usb_events([event("add", dev)])
    assert eng.on_result(req, "Cannot attach: device-gone") == []
    status = eng.statuses()[0]
    assert status.state == "failed" and "retry in 5 s" in status.message
    # A thousand ticks and duplicate events within the backoff ask for nothing.
    for _ in range(1000):
        clock.now += 0.004
        assert eng.tick() == []
    assert eng.on_usb_events([event("add", dev)]) == []
    assert eng.on_guest_event("win", "resumed") == []
    clock.now = 1005.0
    (retry,) = eng.tick()
    assert retry.reason == "retry"
    assert eng.tick() == []  # in flight
    eng.on_result(retry, "still broken")
    assert eng.next_retry() == 1005.0 + 15.0
    clock.now += 14.9
    assert eng.tick() == []
    clock.now += 0.2
    assert len(eng.tick()) == 1


def test_replug_resets_the_backoff() -> None:
    eng, _ = engine()
    dev = usb("001", "010")
    (req,) = eng.on_usb_events([event("add", dev)])
    eng.on_result(req, "broken")
    eng.on_usb_events([event("remove", dev)])
    assert len(eng.on_usb_events([event("add", usb("001", "011"))])) == 1


def test_failure_after_guest_stopped_is_pending_not_backoff() -> None:
    eng, _ = engine()
    (req,) = eng.on_usb_events([event("add", usb())])
    eng.on_guest_event("win", "stopped")
    eng.on_result(req, "Cannot attach: the guest is not running")
    status = eng.statuses()[0]
    assert status.state == "pending" and status.retry_at is None
    assert len(eng.on_guest_event("win", "started")) == 1


def test_already_attached_or_held_by_another_guest_asks_nothing() -> None:
    dev = usb()
    eng = RuleEngine([RULE])
    assert eng.sync([dev], {"win": True}, {dev.key: "win"}) == []
    assert eng.statuses()[0].state == "attached"
    other = RuleEngine([RULE])
    assert other.sync([dev], {"win": True}, {dev.key: "lab"}) == []
    assert other.statuses()[0].state == "conflict"
    assert "'lab'" in other.statuses()[0].message


def test_present_at_start_and_first_rule_wins() -> None:
    late = Rule(0x0403, 0x6001, "lab", serial="A5XK3RJT")
    eng = RuleEngine([RULE, late])
    (req,) = eng.sync([usb()], {"win": True, "lab": True}, {})
    assert req.guest == "win" and req.reason == "present at start"
    assert [s.state for s in eng.statuses()] == ["attaching", "shadowed"]


def test_root_hubs_never_match() -> None:
    hub_rule = Rule(0x1D6B, 0x0002, "win")
    eng, _ = engine(hub_rule)
    assert eng.on_usb_events([event("add", usb(vendor=0x1D6B, product=0x0002))]) == []


def test_device_detached_outside_is_held_until_replug() -> None:
    """Detached by someone else (virsh): the owners map no longer lists it. Guest restarts,
    rule changes, ticks and re-syncs leave it alone; only a new plug clears the hold."""
    eng, clock = engine()
    dev = usb("001", "010")
    (req,) = eng.on_usb_events([event("add", dev)])
    eng.on_result(req, None)
    eng.on_owners({})
    (status,) = eng.statuses()
    assert status.state == "held" and status.message == HOLD_OUTSIDE
    clock.now += 600
    assert eng.tick() == [] and eng.on_usb_events([event("change", dev)]) == []
    assert eng.sync(running={"win": True}) == []
    assert eng.on_guest_event("win", "stopped") == []
    assert eng.on_guest_event("win", "started") == []
    assert eng.set_rules([RULE]) == []
    eng.on_usb_events([event("remove", dev)])
    (again,) = eng.on_usb_events([event("add", usb("001", "012"))])
    assert again.device.devnum == 12


def test_hold_by_hand_and_release() -> None:
    eng, _ = engine()
    dev = usb()
    (req,) = eng.on_usb_events([event("add", dev)])
    eng.on_result(req, None)
    eng.hold(dev.key, HOLD_DETACHED)
    eng.note_attached(dev.key, None)
    assert eng.statuses()[0].state == "held"
    assert eng.on_usb_events([event("add", dev)]) == []  # same address: not a replug
    assert eng.on_guest_event("win", "started") == []
    eng.hold(dev.key, held_elsewhere("lab"))
    eng.note_attached(dev.key, "lab")
    (status,) = eng.statuses()
    assert status.state == "conflict" and "attached by hand to 'lab'" in status.message
    eng.on_guest_event("lab", "stopped")  # the device is free, the hold stays
    assert eng.on_guest_event("win", "started") == []
    eng.release(dev.key)
    assert len(eng.on_guest_event("win", "started")) == 1


def test_transient_devnum_zero_change_is_ignored() -> None:
    eng, _ = engine(running={"win": False})
    dev = usb("001", "010")
    eng.on_usb_events([event("add", dev)])
    assert eng.on_usb_events([event("change", replace(dev, devnum=0))]) == []
    assert eng.devices[dev.key].devnum == 10


def test_readonly_and_unusable_lock_are_passive_never_raising(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ro = RuleEngine([RULE], readonly=True)
    assert ro.sync([usb()], {"win": True}, {}) == []
    assert ro.statuses()[0].state == "passive" and "read-only" in ro.statuses()[0].message
    blocked = tmp_path / "file"
    blocked.write_text("")
    eng = RuleEngine([RULE], lock=RulesLock(blocked / "sub" / "rules.lock"))
    assert eng.sync([usb()], {"win": True}, {}) == []
    (status,) = eng.statuses()
    assert status.state == "passive" and "cannot create the rules lock" in status.message


def test_one_status_line() -> None:
    eng, _ = engine()
    assert format_status(eng.statuses()[0]) == (
        "rule 0403:6001 → win (persistent): waiting — device not plugged in"
    )


def test_guest_stop_forgets_live_attachments() -> None:
    eng, _ = engine()
    dev = usb()
    (req,) = eng.on_usb_events([event("add", dev)])
    eng.on_result(req, None)
    assert eng.on_guest_event("win", "stopped") == []
    assert eng.attached == {} and eng.statuses()[0].state == "pending"
    (again,) = eng.on_guest_event("win", "started")
    assert again.device == dev
