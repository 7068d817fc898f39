"""The USB coordinator: one set of semantics for the TUI and ``kvmdeck rules --run``.

Blocking work runs in the real runner's threads on this test's loop. The live attach *success*
path uses the recording fake domain (tests/rules/helpers.py says why: no USB bus on this VM);
the last test runs the same manual-detach semantics against the real libvirtd with a persistent
guest, where CONFIG attach/detach and starting the guest are real.
"""

from __future__ import annotations

import asyncio

import pytest

from testbed import bed
from testbed.wait import until
from tests.hostdev.test_fake_live import CONFIG_XML_IDS, LIVE_XML_1_10
from tests.rules.helpers import RecordingConn, RecordingDomain, event, usb
from tui.adapters.libvirt.hostdev import LibvirtHostdev
from tui.core.runner import Runner
from tui.core.usb.coordinator import UsbCoordinator
from tui.core.usb.requests import UsbNote
from tui.core.usb.rules import Rule, load_rules

RULE = Rule(0x0403, 0x6001, "win")
MISSING_USB = "cannot open directory '/sys/bus/usb/devices'"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, conn: object, rules: list[Rule], **kw: object) -> None:
        self.notes: list[UsbNote] = []
        self.errors: list[BaseException] = []
        self.clock = Clock()
        self.runner = Runner(asyncio.get_running_loop(), lambda _n, exc: self.errors.append(exc))
        self.coord = UsbCoordinator(
            self.runner,
            on_note=self.notes.append,
            clock=self.clock,
            **kw,  # type: ignore[arg-type]
        )
        self.coord.use_rules(rules, None)
        self.port = LibvirtHostdev(conn)

    async def idle(self) -> None:
        await asyncio.sleep(0.01)
        await until(lambda: self.coord.idle, "the coordinator to be idle", 10.0, step=0.005)
        assert not self.errors

    def texts(self) -> list[str]:
        return [n.text for n in self.notes]


def attaches(dom: RecordingDomain) -> list[str]:
    return [xml for verb, xml, _f in dom.calls if verb == "attach"]


async def test_manual_detach_with_a_rule_stays_detached_until_replug() -> None:
    win = RecordingDomain("win", active=True, persistent=True)
    h = Harness(RecordingConn([win]), [RULE])
    dev = usb("001", "010")
    h.coord.set_devices([dev])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass", 10.0, step=0.005)
    await h.idle()
    assert win.live_hostdevs == [LIVE_XML_1_10]  # present at start: attached by the rule
    assert h.coord.live_owner(dev) == "win"

    assert h.coord.detach(dev, "win") is None
    await h.idle()
    assert win.live_hostdevs == []
    assert "[by hand]: ok (live)" in h.texts()[-1]
    # Everything that used to bring it back: owners refreshes, polls, guest events, retries.
    h.coord.refresh_owners()
    h.coord.guests_changed({"win": True, "other": False})
    h.coord.guest_event("win", "stopped")
    h.coord.guest_event("win", "started")
    h.clock.now += 600
    h.coord.tick()
    await h.idle()
    assert len(attaches(win)) == 1
    assert h.coord.status_lines() == [
        "rule 0403:6001 → win: held — detached by hand: attaches again when plugged in again"
    ]
    # Plugged in again (new device number): the rule applies again.
    h.coord.usb_events([event("remove", dev)])
    h.coord.usb_events([event("add", usb("001", "012"))])
    await h.idle()
    assert len(attaches(win)) == 2 and "device='12'" in attaches(win)[-1]
    assert h.coord.status_lines() == ["rule 0403:6001 → win: attached — attached to win"]


async def test_manual_attach_elsewhere_is_not_taken_back() -> None:
    win = RecordingDomain("win", active=False, persistent=True)
    lab = RecordingDomain("lab", active=True, persistent=False, uuid="6f1c2d7e-0000-4000-8000-2")
    h = Harness(RecordingConn([win, lab]), [RULE])
    dev = usb("001", "010")
    h.coord.set_devices([dev])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass", 10.0, step=0.005)
    assert h.coord.attach(dev, "lab") is None
    await h.idle()
    assert lab.live_hostdevs == [LIVE_XML_1_10]
    win.active = True  # the rule's guest starts
    h.coord.guest_event("win", "started")
    await h.idle()
    assert attaches(win) == []
    (line,) = h.coord.status_lines()
    assert "conflict — attached by hand to 'lab': the rule does not take it back" in line
    lab.active = False  # the other guest stops: the device is free, still not taken
    lab.live_hostdevs.clear()
    h.coord.guest_event("lab", "stopped")
    await h.idle()
    assert attaches(win) == []
    # Moving it to the rule's guest by hand ends the hold.
    lab.active = True
    lab.live_hostdevs.append(LIVE_XML_1_10)
    h.coord.refresh_owners()
    await h.idle()
    assert h.coord.move(dev, "lab", "win") is None
    await h.idle()
    assert attaches(win) == [LIVE_XML_1_10] and lab.live_hostdevs == []
    assert h.coord.status_lines() == ["rule 0403:6001 → win: attached — attached to win"]


async def test_started_guest_is_evaluated_after_its_owners_are_read() -> None:
    """A guest that starts with the device in its saved config already holds it: no attach."""
    win = RecordingDomain("win", active=False, persistent=True, config_hostdevs=[CONFIG_XML_IDS])
    h = Harness(RecordingConn([win]), [RULE])
    dev = usb("001", "010")
    h.coord.set_devices([dev])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass", 10.0, step=0.005)
    win.active = True
    win.live_hostdevs.append(LIVE_XML_1_10)  # QEMU took it at boot
    h.coord.guest_event("win", "started")
    await h.idle()
    assert attaches(win) == []
    assert h.coord.status_lines() == ["rule 0403:6001 → win: attached — attached to win"]


async def test_a_plugs_attach_goes_ahead_of_waiting_snapshots() -> None:
    """One job at a time: a rule's attach waits for the job running, not for the owners
    snapshots and rules reads queued behind it (the lab's TUI waited 0.2-1 s for those)."""
    import threading

    win = RecordingDomain("win", active=True, persistent=True)
    order: list[str] = []
    gate = threading.Event()

    class SlowOwners(LibvirtHostdev):
        def owners(self):  # type: ignore[no-untyped-def]
            order.append("owners")
            gate.wait(10)
            return super().owners()

        def apply_attach(self, *a, **kw):  # type: ignore[no-untyped-def]
            order.append("attach")
            return super().apply_attach(*a, **kw)

    h = Harness(RecordingConn([win]), [RULE])
    h.port = SlowOwners(RecordingConn([win]))
    h.coord.set_devices([])
    gate.set()
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass", 10.0, step=0.005)
    await h.idle()
    gate.clear()
    order.clear()
    h.coord.refresh_owners()  # running, held by the gate
    await until(lambda: order == ["owners"], "the first snapshot to run", 10.0, step=0.005)
    h.coord.refresh_owners()  # queued
    h.coord.rulebook.watch_rules()
    h.coord.rulebook.check_rules()  # queued
    h.coord.usb_events([event("add", usb("001", "010"))])
    assert [j.name for j in h.coord.jobs.queue] == ["usb rule win", "usb owners", "usb rules load"]
    gate.set()
    await h.idle()
    assert order[:2] == ["owners", "attach"] and order.count("owners") >= 2
    assert len(attaches(win)) == 1


async def test_rules_are_saved_off_the_loop_and_readonly_refuses(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rules.toml"
    win = RecordingDomain("win", active=True, persistent=False)
    h = Harness(RecordingConn([win]), [], rules_file=path)
    dev = usb()
    h.coord.set_devices([dev])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass", 10.0, step=0.005)
    assert h.coord.rulebook.add_rule(dev, "win", persistent=False) is None
    await h.idle()
    assert load_rules(path) == [Rule(0x0403, 0x6001, "win", serial="A5XK3RJT")]
    assert len(attaches(win)) == 1  # the new rule applies at once
    assert h.coord.rulebook.forget_rules(dev) is None
    await h.idle()
    assert load_rules(path) == []
    assert h.coord.rulebook.forget_rules(dev) == "No rule matches FTDI FT232R USB UART (0403:6001)."

    ro = Harness(RecordingConn([win]), [RULE], rules_file=path, readonly=True)
    assert "Read-only" in (ro.coord.rulebook.add_rule(dev, "win", False) or "")
    assert "Read-only" in (ro.coord.detach(dev, "win") or "")


async def test_a_rules_file_that_did_not_load_is_never_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rules.toml"
    text = (
        '# mine\n[[rule]]\nvendor = "0x0403"\nproduct = "0x6001"\nguest = "win"\npersistent = tru\n'
    )
    path.write_text(text)
    h = Harness(RecordingConn([]), [], rules_file=path)
    h.coord.rulebook.load_rules()
    await h.idle()
    assert "USB rules not loaded" in h.texts()[0] and str(path) in h.coord.rulebook.rules_error
    refusal = h.coord.rulebook.add_rule(usb(), "win", False)
    assert refusal is not None and f"fix {path} first" in refusal
    assert path.read_text() == text


@pytest.mark.libvirtd
async def test_manual_detach_holds_against_real_libvirtd(libvirtd, persistent_guest) -> None:  # type: ignore[no-untyped-def]
    """Real daemon, real guest: attach by hand to the shut-off guest (CONFIG), detach it by
    hand, start the guest for real: the rule asks for nothing. A replug then lets the rule try,
    and libvirtd's real refusal (no USB bus here) shows the rule would have acted."""
    name = persistent_guest.name
    h = Harness(libvirtd, [Rule(0x0403, 0x6001, name)])
    dev = usb("001", "010")
    h.coord.set_devices([dev])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass", 30, step=0.005)
    await h.idle()
    assert "is off: attaches when it starts" in h.coord.status_lines()[0]
    assert h.coord.attach(dev, name) is None
    await h.idle()
    assert "ok (config)" in h.texts()[-1]
    assert [o.guest for o in h.coord.owners.owners_of(dev)] == [name]
    assert h.coord.detach(dev, name) is None
    await h.idle()
    assert "ok (config)" in h.texts()[-1] and h.coord.owners.owners_of(dev) == []
    dom = libvirtd.lookupByName(name)
    dom.create()
    try:
        h.coord.guest_event(name, "started")
        await h.idle()
        assert h.coord.running[name] is True
        assert not [t for t in h.texts() if "[guest started]" in t]
        assert "held — detached by hand" in h.coord.status_lines()[0]
        h.coord.usb_events([event("remove", dev)])
        h.coord.usb_events([event("add", usb("001", "011"))])
        await h.idle()
        (failed,) = [t for t in h.texts() if "FAILED" in t]
        assert "[plugged]" in failed and MISSING_USB in failed
    finally:
        dom.destroy()
    assert bed.PREFIX in name


async def test_the_view_is_one_immutable_snapshot_of_the_coordinator() -> None:
    """The USB screen renders UsbCoordinator.view(): the same object while nothing changed, a
    new version (and a new generation only for a whole new device set) when something did,
    and nothing in it the screen could change behind the coordinator's back."""
    win = RecordingDomain("win", active=True, persistent=True)
    h = Harness(RecordingConn([win]), [RULE])
    first = h.coord.view()
    assert h.coord.view() is first and not first.devices_known
    dev = usb("001", "010")
    h.coord.set_devices([dev])
    h.coord.set_port(h.port)
    await until(lambda: h.coord.started, "the start pass", 10.0, step=0.005)
    await h.idle()
    listed = h.coord.view()
    assert listed.version > first.version and listed.generation == first.generation + 1
    assert list(listed.devices) == [dev.key] and listed.owner_of(dev) == "win"
    assert [s.state for s in listed.rules] == ["attached"]
    with pytest.raises(TypeError):
        listed.devices["x"] = dev  # type: ignore[index]
    plugged = usb("001", "011", 0x1234, 0x5678, port="1-3", serial="OTHER")
    h.coord.usb_events([event("add", plugged)])
    after = h.coord.view()
    assert after.generation == listed.generation  # a plug: the table highlights it
    assert set(after.devices) == {dev.key, plugged.key} and set(listed.devices) == {dev.key}
    await h.idle()
