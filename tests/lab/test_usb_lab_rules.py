"""Issue #12 in the lab: stale hostdevs after an unplug, rules across replugs, manual actions
against rules, rules by port, rules for a guest that is off, and many plug cycles.

kvmdeck runs in L1 (its TUI on the USB screen, driven by its keys in tmux; or ``kvmdeck rules
--run``); the truth is L1's: libvirt's live XML of L2 (``virsh dumpxml``), QEMU's ``info usb``
of L2, and the events udev and libvirt emit in L1 (the ``watch`` fixture).

Every test cleans up after itself: rules.toml goes (and kvmdeck must show no rules), L2's
hostdevs are detached, every device is unplugged, L2 runs again.
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest

from lab.labctl import Hostdev, Lab, LabError, UsbDev, wait_for
from tests.lab import ui
from tests.lab.conftest import RULES_TOML, Watch

STICK = ("46f4", "0001")  # QEMU usb-storage
STALE_GONE_S = 5.0  # the issue: a stale hostdev is gone from the live XML within 5 s
CYCLES = 30


# -- helpers -----------------------------------------------------------------------------------
def l1_clock(line: str) -> float:
    """L1's monotonic clock of a ``watch`` line (its second field)."""
    return float(line.split()[1])


def say(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """A measurement, printed in the test output even when pytest captures it."""
    with capsys.disabled():
        print(f"\n    [lab] {text}", flush=True)


def write_rule(lab: Lab, dev: UsbDev | None = None, guest: str = "L2", port: str = "") -> None:
    """rules.toml in L1, by hand: by vendor, product and serial of ``dev``, or by ``port``."""
    if dev is not None:
        body = f'vendor = "0x{dev.vendor}"\nproduct = "0x{dev.product}"\nserial = "{dev.serial}"\n'
    else:
        body = f'port = "{port}"\n'
    lab.write_file(RULES_TOML, f'version = 1\n\n[[rule]]\n{body}guest = "{guest}"\n')


def rule_by_serial(serial: str) -> str:
    return rf"46f4:0001 serial={serial} → L2"


def only_hostdev(lab: Lab, dev: UsbDev, timeout: float = 60) -> Hostdev:
    """Wait until L2's live XML holds ``dev`` (by its bus and device number), then check that
    it holds nothing else: no stale entry of an earlier plug, no duplicate."""
    seen: list[Hostdev] = []

    def present() -> Hostdev | None:
        seen[:] = lab.hostdevs("L2")
        return next((h for h in seen if (h.bus, h.device) == (dev.busnum, dev.devnum)), None)

    hd = wait_for(
        present,
        timeout,
        f"{dev.ids} at {dev.address} in L2's live XML",
        last=lambda: repr(seen),
    )
    assert seen == [hd], f"L2 holds more than {dev.address}: {seen}"
    assert (hd.vendor, hd.product) == (dev.vendor, dev.product), hd
    return hd


def no_hostdev(lab: Lab, timeout: float = 60, what: str = "no hostdev in L2's live XML") -> None:
    seen: list[Hostdev] = []

    def empty() -> bool:
        seen[:] = lab.hostdevs("L2")
        return not seen

    wait_for(empty, timeout, what, last=lambda: repr(seen))


def l2_usb_has(lab: Lab, text: str) -> str | None:
    """QEMU's ``info usb`` of L2 when it holds ``text`` (a hostdev alias, a product name)."""
    out = lab.guest_info_usb("L2")
    return out if text in out else None


def other_root_port(lab: Lab, dev: UsbDev) -> str:
    """A free root port other than the one ``dev`` was in (for a replug elsewhere)."""
    was = dev.port.split("-", 1)[1].split(".")[0]  # sysfs "2-3" -> QEMU's root port "3"
    used = {p.split(".")[0] for p in lab.qemu_ports()} | {was}
    free = [str(n) for n in range(1, lab.root_ports() + 1) if str(n) not in used]
    assert free, lab.info_usb()
    return free[0]


def unplug_stale_gone(lab: Lab, watch: Watch, dev_id: str, dev: UsbDev, alias: str) -> float:
    """Unplug ``dev`` while L2 holds it (libvirt keeps the entry: kvmdeck must detach it);
    return the seconds from L1's udev seeing the removal to libvirt's DEVICE_REMOVED of the
    stale entry (both on L1's clock), once the live XML agrees."""
    watch.drain()
    lab.unplug(dev_id, wait=False)  # no polling of L1 while it is measured
    _, removed = watch.udev.expect(rf" remove usb usb_device \S*/{re.escape(dev.port)} ", 60)
    _, gone = watch.virt.expect(rf"DOMAIN_DEVICE_REMOVED L2 {re.escape(alias)}\b", 60)
    no_hostdev(lab, 30, f"the stale {alias} gone from L2's live XML")
    assert lab.find_device(dev.serial) is None
    return l1_clock(gone) - l1_clock(removed)


# -- a. the stale hostdev of an unplugged device -------------------------------------------------
def test_unplug_removes_stale_hostdev_of_key_attach(
    usb_screen: Lab, watch: Watch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = usb_screen
    stick = lab.plug_storage("sa1")
    assert stick is not None
    ui.wait_row(lab, stick)
    ui.attach_from_keys(lab, stick, "L2")
    hd = only_hostdev(lab, stick)
    ui.wait_row(lab, stick, "L2")  # kvmdeck knows L2 holds it

    took = unplug_stale_gone(lab, watch, "sa1", stick, hd.alias)
    say(capsys, f"key attach: stale {hd.alias} gone {took:.2f} s after L1's udev removal")
    assert took <= STALE_GONE_S
    wait_for(lambda: not l2_usb_has(lab, hd.alias), 30, f"{hd.alias} gone from L2's info usb")


# -- a + b. a rule made with R: attach, stale cleanup, replug with a new device number ------------
def test_rule_from_keys_reattaches_replug_and_cleans_stale(
    rules_screen: Lab, watch: Watch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = rules_screen
    stick = lab.plug_storage("sb1")
    assert stick is not None
    ui.wait_row(lab, stick)
    ui.rule_from_keys(lab, stick, "L2")  # by serial, the default for a device that has one
    ui.wait_rule(lab, rule_by_serial(stick.serial) + r": attached")
    saved = lab.ssh(f"cat {RULES_TOML}")
    assert 'serial = "SB1"' in saved and 'guest = "L2"' in saved, saved
    hd = only_hostdev(lab, stick)
    ui.wait_row(lab, stick, "L2")

    took = unplug_stale_gone(lab, watch, "sb1", stick, hd.alias)
    say(capsys, f"rule attach: stale {hd.alias} gone {took:.2f} s after L1's udev removal")
    assert took <= STALE_GONE_S

    # plugged in again, into another port: a new device number, attached again, only it
    again = lab.plug_storage("sb1", port=other_root_port(lab, stick), bound=False)
    assert again is not None and again.devnum != stick.devnum and again.port != stick.port
    only_hostdev(lab, again)
    ui.wait_row(lab, again, "L2")
    ui.wait_rule(lab, rule_by_serial(again.serial) + r": attached")
    out = wait_for(lambda: l2_usb_has(lab, "QEMU USB HARDDRIVE"), 30, "the stick in L2's info usb")
    assert out.count("QEMU USB HARDDRIVE") == 1, out

    # D forgets the rule (kvmdeck rewrites rules.toml)
    ui.select_row(lab, again)
    lab.tmux_keys("D")
    ui.wait_no_rules(lab)
    assert "SB1" not in lab.ssh(f"cat {RULES_TOML} 2>/dev/null; true")


# -- c. a manual detach wins over the rule until the next plug ------------------------------------
def test_manual_detach_stays_detached_until_replug(rules_screen: Lab) -> None:
    lab = rules_screen
    stick = lab.plug_storage("sc1")
    assert stick is not None
    ui.wait_row(lab, stick)
    write_rule(lab, stick)  # by hand: kvmdeck reads rules.toml again when it changes
    only_hostdev(lab, stick)
    ui.wait_row(lab, stick, "L2")

    ui.detach_from_keys(lab, stick)
    no_hostdev(lab)
    ui.wait_rule(lab, rule_by_serial(stick.serial) + r": held")
    # the rule must not take it back: watch L2's live XML for more than 5 s
    end = time.monotonic() + STALE_GONE_S + 1
    while time.monotonic() < end:
        assert not lab.hostdevs("L2"), "the rule re-attached a device detached by hand"
        time.sleep(0.5)
    assert lab.find_device(stick.serial) is not None  # still plugged in L1

    lab.unplug("sc1")
    again = lab.plug_storage("sc1", bound=False)
    assert again is not None and again.devnum != stick.devnum
    only_hostdev(lab, again)
    ui.wait_rule(lab, rule_by_serial(again.serial) + r": attached")


# -- e. a rule for a guest that is off attaches when it starts --------------------------------------
def test_rule_for_guest_that_is_off_attaches_on_start(rules_screen: Lab) -> None:
    lab = rules_screen
    lab.virsh("destroy L2")
    stick = lab.plug_storage("se1")
    assert stick is not None
    ui.wait_row(lab, stick)
    write_rule(lab, stick)
    ui.wait_rule(lab, rule_by_serial(stick.serial) + r": pending — guest 'L2' is off")
    assert lab.virsh("domstate L2").strip() == "shut off"

    lab.virsh("start L2")
    only_hostdev(lab, stick, timeout=90)
    ui.wait_rule(lab, rule_by_serial(stick.serial) + r": attached")
    ui.wait_row(lab, stick, "L2")


# -- d. a rule by port alone takes whatever is plugged into that port -----------------------------
def test_rule_by_port_attaches_another_device_in_that_port(rules_screen: Lab) -> None:
    lab = rules_screen
    port = lab.free_root_port()
    ftdi = lab.plug_serial("sd1", port=port)
    assert ftdi is not None and ftdi.ids == "0403:6001"
    ui.wait_row(lab, ftdi)
    ui.rule_from_keys(lab, ftdi, "L2", match="by port")
    ui.wait_rule(lab, rf"port {re.escape(ftdi.port)} → L2: attached")
    saved = lab.ssh(f"cat {RULES_TOML}")
    assert f'port = "{ftdi.port}"' in saved, saved
    assert not re.search(r"(?m)^\s*(vendor|product|serial)\s*=", saved), saved
    only_hostdev(lab, ftdi)

    lab.unplug("sd1")
    no_hostdev(lab, 30, "the FTDI's stale hostdev gone")
    tablet = lab.plug("sd2", "usb-tablet", port=port, bound=False)  # another device, same port
    assert tablet is not None and tablet.port == ftdi.port and tablet.ids == "0627:0001"
    only_hostdev(lab, tablet)
    ui.wait_row(lab, tablet, "L2")


# -- f. the same through `kvmdeck rules --run` (no TUI) --------------------------------------------
@pytest.mark.lab_headless
def test_rules_run_replug_and_stale_cleanup(
    clean: Lab, watch: Watch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = clean
    lab.kvmdeck_stop()  # the TUI would hold the rules lock
    stick = lab.plug_storage("sf1")
    assert stick is not None
    write_rule(lab, stick)  # before kvmdeck starts
    lab.kvmdeck_start("rules --run -c qemu:///system", session="rules")
    try:
        lab.wait_screen(r"1 rule\(s\), \d+ USB device\(s\)", timeout=90, session="rules")
        hd = only_hostdev(lab, stick)  # present at start
        took = unplug_stale_gone(lab, watch, "sf1", stick, hd.alias)
        say(capsys, f"rules --run: stale {hd.alias} gone {took:.2f} s after L1's udev removal")
        assert took <= STALE_GONE_S

        again = lab.plug_storage("sf1", port=other_root_port(lab, stick), bound=False)
        assert again is not None and again.devnum != stick.devnum
        only_hostdev(lab, again)
        lab.wait_screen(
            rf"attach 46f4:0001 .*bus {again.busnum} device {again.devnum}\) → L2 .*ok",
            timeout=30,
            session="rules",
        )
    finally:
        with contextlib.suppress(LabError):
            lab.kvmdeck_stop("rules", key="C-c")


# -- g. many plug cycles: never a stale or duplicate entry ---------------------------------------
# Through `kvmdeck rules --run`: the same coordinator and rule engine as the TUI, ~2 s a cycle
# here against ~6 s with the TUI rendering every event under TCG (the TUI's own replugs are
# above). Each cycle waits for libvirt's events, no sleeps.
@pytest.mark.lab_headless
@pytest.mark.timeout(600)
def test_plug_cycles_leave_no_stale_or_duplicate(
    clean: Lab, watch: Watch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = clean
    lab.kvmdeck_stop()  # the TUI would hold the rules lock
    first = lab.plug_storage("sg1")
    assert first is not None
    ports = [lab.qemu_port("sg1") or "1", other_root_port(lab, first)]
    write_rule(lab, first)
    lab.unplug("sg1")
    lab.kvmdeck_start("rules --run -c qemu:///system", session="rules")
    try:
        lab.wait_screen(r"1 rule\(s\), \d+ USB device\(s\)", timeout=90, session="rules")
        t0 = time.monotonic()
        devnums = set()
        for n in range(CYCLES):
            watch.drain()
            lab.plug_storage("sg1", wait=False, port=ports[n % 2])
            watch.virt.expect(r"DOMAIN_DEVICE_ADDED L2 ", 60)
            dev = lab.find_device("SG1")
            hds = lab.hostdevs("L2")
            assert dev is not None, n
            assert [(h.bus, h.device) for h in hds] == [(dev.busnum, dev.devnum)], (n, dev, hds)
            devnums.add(dev.devnum)
            lab.unplug("sg1", wait=False)
            watch.virt.expect(r"DOMAIN_DEVICE_REMOVED L2 ", 60)
            assert not lab.hostdevs("L2"), (n, lab.hostdevs("L2"))
        took = time.monotonic() - t0
        say(
            capsys,
            f"{CYCLES} plug/unplug cycles, rules --run: {took:.0f} s ({took / CYCLES:.1f} s each)",
        )
        assert len(devnums) == CYCLES  # a new device number every time
        wait_for(lambda: lab.find_device("SG1") is None, 30, "SG1 gone from L1")
    finally:
        with contextlib.suppress(LabError):
            lab.kvmdeck_stop("rules", key="C-c")
