"""``kvmdeck rules --run/--once/--list`` against the real libvirtd.

The USB side is scripted (this VM has no USB bus); libvirtd, its lifecycle events (libvirtaio)
and its refusal of the attach are real. Each run is its own process, as the CLI is (libvirtaio
registers once per process).
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import bed
from tests.rules.helpers import RecordingConn, RecordingDomain, event, usb
from tests.rules.test_lock import HOLDER
from tui.adapters.libvirt.hostdev import LibvirtHostdev
from tui.cli.wiring_usb import usb_services
from tui.core.usb.headless import EXIT_CONFIG, EXIT_LOCKED, list_rules, run_rules
from tui.core.usb.ports import UsbServices
from tui.core.usb.rulelock import RulesLock
from tui.core.usb.rules import Rule, save_rules
from tui.model.usb import UsbDevice, UsbEvent
from tui.model.usb_doctor import UsbHostStatus

ROOT = Path(__file__).parents[2]
MISSING_USB = "cannot open directory '/sys/bus/usb/devices'"


def _child(spec: dict[str, object]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.rules.headless_child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )


def _read_until(
    proc: subprocess.Popen[str], needle: str, lines: list[str], deadline: float
) -> None:
    assert proc.stdout is not None
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return
    raise AssertionError(f"no {needle!r} within {deadline} s; got:\n{''.join(lines)}")


@pytest.mark.libvirtd
def test_once_applies_to_present_devices_and_reports_libvirts_error(libvirtd, guests) -> None:  # type: ignore[no-untyped-def]
    save_rules([Rule(0x0403, 0x6001, guests[0].name)])
    proc = _child({"once": True, "present": [["001", "010"]]})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    (failed,) = [line for line in out.splitlines() if "FAILED" in line]
    assert f"attach 0403:6001 'FTDI FT232R USB UART' (bus 1 device 10) → {guests[0].name}" in failed
    assert "[present at start]" in failed and MISSING_USB in failed
    assert "failed" in out.splitlines()[-1] and "retry in 5 s" in out.splitlines()[-1]


@pytest.mark.libvirtd
def test_run_attaches_on_plug_and_backs_off(libvirtd, guests) -> None:  # type: ignore[no-untyped-def]
    """A plug after start triggers one attempt; the 5 s backoff holds for the rest of the run."""
    save_rules([Rule(0x0403, 0x6001, guests[1].name)])
    proc = _child({"later": [[0.3, "add", "001", "009"]], "stop_after": 3.0})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "usb add: 0403:6001 at bus 1 device 9" in out
    attempts = [line for line in out.splitlines() if "FAILED" in line]
    assert len(attempts) == 1, out
    assert "(bus 1 device 9)" in attempts[0] and "[plugged]" in attempts[0]
    assert MISSING_USB in attempts[0]


@pytest.mark.libvirtd
def test_run_waits_for_the_guest_started_event(libvirtd, persistent_guest) -> None:  # type: ignore[no-untyped-def]
    """Guest off: nothing happens until libvirt's STARTED event, then the attach is tried."""
    save_rules([Rule(0x0403, 0x6001, persistent_guest.name)])
    proc = _child({"present": [["001", "010"]], "stop_after": 40.0})
    lines: list[str] = []
    try:
        _read_until(proc, "guest(s) running", lines, 30)
        time.sleep(0.5)
        assert not any("FAILED" in line or "attach " in line for line in lines)
        libvirtd.lookupByName(persistent_guest.name).create()
        _read_until(proc, f"guest {persistent_guest.name}: started", lines, 30)
        _read_until(proc, "FAILED", lines, 30)
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
        lines.append(rest)
    failed = [line for line in lines if "FAILED" in line]
    assert "[guest started]" in failed[0] and MISSING_USB in failed[0]
    assert proc.returncode == 0  # SIGTERM is a clean stop


def test_second_instance_is_refused_with_the_holders_pid() -> None:
    save_rules([Rule(0x0403, 0x6001, "win")])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(RulesLock.beside().path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        out = io.StringIO()
        assert (
            run_rules("qemu:///system", once=True, out=out, services=usb_services()) == EXIT_LOCKED
        )
        assert (
            out.getvalue() == f"Rules not applied: applied by another kvmdeck (pid {holder.pid}).\n"
        )
        listing = io.StringIO()
        assert list_rules(listing) == 0
        assert f"applied by another kvmdeck (pid {holder.pid})" in listing.getvalue()
    finally:
        holder.kill()
        holder.wait()


def test_list_and_bad_file() -> None:
    path = save_rules([Rule(0x0403, 0x6001, "win", serial="S1", persistent=True)])
    out = io.StringIO()
    assert (
        run_rules(None, list_only=True, out=out, services=usb_services()) == 0
    )  # what `kvmdeck rules --list` calls
    assert out.getvalue().splitlines() == [
        f"{path}: 1 rule(s), no kvmdeck applies them right now",
        "  1  0403:6001 serial=S1 → win (persistent)",
    ]
    path.write_text('[[rule]]\nvendor = "nope"\n')
    out = io.StringIO()
    assert run_rules(bed.SYSTEM_URI, once=True, out=out, services=usb_services()) == EXIT_CONFIG
    assert "key 'vendor' must be a hex USB id" in out.getvalue()


class _FakeHostSources:
    """Services for an in-process ``run_rules``: the real adapter code (LibvirtHostdev) over the
    recording fake domain, because a live attach cannot succeed on this VM (see
    tests/rules/helpers.py); a scripted device feed and scripted lifecycle events, since neither
    a USB bus nor a way to detach "by hand" outside kvmdeck exists here otherwise."""

    def __init__(self, dom: RecordingDomain, script: list[tuple[float, Callable[[], None]]]):
        self.dom = dom
        self.script = script
        self.on_guest: Callable[[str, str], None] | None = None
        self.feed_events: Callable[[list[UsbEvent]], None] | None = None

    def services(self) -> UsbServices:
        fake = self

        class Port(LibvirtHostdev):
            def watch_guests(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
                fake.on_guest = callback
                return lambda: None

        class Feed:
            def start(self, loop: asyncio.AbstractEventLoop, on_events):  # type: ignore[no-untyped-def]
                fake.feed_events = on_events
                for delay, step in fake.script:
                    loop.call_later(delay, step)
                return [usb("001", "010")]

            def stop(self) -> None: ...

            def devices(self) -> list[UsbDevice]:
                return []

        return UsbServices(
            local_feed=Feed,
            remote_feed=lambda _c: Feed(),
            hostdev=Port,
            local_status=lambda: UsbHostStatus(udev=False),
            uses_node_devices=lambda _c: False,
            open_connection=lambda _u, _r: RecordingConn([self.dom]),
            close_connection=lambda _c: None,
            register_event_loop=lambda: None,
        )


def test_headless_keeps_a_detached_device_detached_until_replug() -> None:
    """The same coordinator semantics through ``rules --run``: detached outside kvmdeck (the
    guest's live XML loses it), then guest events and ticks: no attach; a replug: attach."""
    save_rules([Rule(0x0403, 0x6001, "win")])
    win = RecordingDomain("win", active=True, persistent=True)
    fake: _FakeHostSources

    def detach_outside() -> None:
        win.live_hostdevs.clear()  # like `virsh detach-device --live`
        assert fake.on_guest is not None
        fake.on_guest("other", "started")  # any event makes it look at the owners

    def restart_win() -> None:
        assert fake.on_guest is not None
        fake.on_guest("win", "stopped")
        fake.on_guest("win", "started")

    def replug() -> None:
        assert fake.feed_events is not None
        fake.feed_events([event("remove", usb("001", "010"))])
        fake.feed_events([event("add", usb("001", "012"))])

    fake = _FakeHostSources(win, [(0.6, detach_outside), (1.0, restart_win), (2.4, replug)])
    out = io.StringIO()
    assert run_rules("test:///fake", out=out, services=fake.services(), stop_after=3.0) == 0
    text = out.getvalue()
    attached = [x for verb, x, _f in win.calls if verb == "attach"]
    assert len(attached) == 2, text
    assert "device='10'" in attached[0] and "device='12'" in attached[1]
    assert "[present at start]: ok (live)" in text and "[plugged]: ok (live)" in text
    assert "guest win: started" in text and "[guest started]" not in text


def test_readonly_refuses_to_run() -> None:
    save_rules([Rule(0x0403, 0x6001, "win")])
    out = io.StringIO()
    assert (
        run_rules("qemu:///system", readonly=True, out=out, services=usb_services()) == EXIT_CONFIG
    )
    assert "read-only" in out.getvalue()


def test_headless_picks_up_a_hand_edit() -> None:
    """``rules --run`` watches rules.toml: a rule added by hand while it runs is applied (the
    first tick looks at the file; the drain at the end waits for the attach it asks for)."""
    path = save_rules([Rule(0x0403, 0x6001, "win")])
    win = RecordingDomain("win", active=True, persistent=True)
    logi = usb("001", "011", vendor=0x046D, product=0xC52B, port="1-9", serial="")
    fake: _FakeHostSources

    def plug_logi() -> None:
        assert fake.feed_events is not None
        fake.feed_events([event("add", logi)])  # no rule for it yet

    def edit_by_hand() -> None:
        with path.open("a") as handle:
            handle.write('\n# added by hand\n[[rule]]\nport = "1-9"\nguest = "win"\n')

    fake = _FakeHostSources(win, [(0.2, plug_logi), (0.3, edit_by_hand)])
    out = io.StringIO()
    assert run_rules("test:///fake", out=out, services=fake.services(), stop_after=2.5) == 0
    text = out.getvalue()
    assert f"USB rules reloaded from {path}: 2 rule(s)" in text
    attached = [x for verb, x, _f in win.calls if verb == "attach"]
    assert len(attached) == 2, text
    assert "device='11'" in attached[1] and "[rules changed]: ok (live)" in text


def test_run_with_no_rules_keeps_watching_and_applies_the_first_one() -> None:
    """A service started before any rule exists: ``rules --run`` does not exit, and a rule
    written later is applied to the device already plugged. ``--once`` still exits at once."""
    from tui.config import rules_path

    path = rules_path()
    path.unlink(missing_ok=True)
    win = RecordingDomain("win", active=True, persistent=True)
    fake: _FakeHostSources

    def write_rule() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('[[rule]]\nvendor = "0403"\nproduct = "6001"\nguest = "win"\n')

    out = io.StringIO()
    assert run_rules("test:///fake", once=True, out=out, services=usb_services()) == 0
    assert "no rules, nothing to do" in out.getvalue()
    fake = _FakeHostSources(win, [(0.3, write_rule)])
    out = io.StringIO()
    assert run_rules("test:///fake", out=out, services=fake.services(), stop_after=3.0) == 0
    text = out.getvalue()
    assert f"{path}: no rules yet; watching it" in text
    attached = [x for verb, x, _f in win.calls if verb == "attach"]
    assert len(attached) == 1 and "device='10'" in attached[0], text
