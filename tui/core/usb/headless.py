"""``kvmdeck rules --run`` / ``--once`` / ``--list``: apply USB auto-attach rules without the TUI.

A thin loop around :class:`tui.core.usb.coordinator.UsbCoordinator`, the same one the TUI uses:
one asyncio loop carries libvirt's events (libvirtaio) and the device feed; blocking work runs in
:class:`tui.core.runner.Runner`'s daemon threads. Only the holder of the rules lock applies rules;
a second instance exits with a message.

Exit codes: 0 ok, 1 a rule failed (``--once``), 2 bad rules file, no connection or
``--readonly``, 3 another kvmdeck applies the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tui.config import rules_path
from tui.core.runner import Runner
from tui.core.usb.coordinator import LIFECYCLE_KINDS, UsbCoordinator, UsbNote
from tui.core.usb.engine import format_status
from tui.core.usb.ports import DeviceFeed, UsbServices
from tui.core.usb.rulelock import RulesLock, passive_message
from tui.core.usb.rules import Rule, RulesError, load_rules
from tui.model.usb import HostdevError, UsbEvent
from tui.util import terminal_safe

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 3
START_TIMEOUT_S = 60.0  # guests and owners read, devices listed
DRAIN_TIMEOUT_S = 30.0  # pending attaches at the end


def _say(out: TextIO, text: str) -> None:
    out.write(f"{time.strftime('%H:%M:%S')} {terminal_safe(text)}\n")  # device strings
    out.flush()


def _load(path: Path, out: TextIO) -> list[Rule] | None:
    """The rules, or None after printing why the file cannot be used."""
    try:
        return load_rules(path)
    except RulesError as exc:
        out.write(f"{terminal_safe(exc, multiline=True)}\n")
        return None


def list_rules(out: TextIO = sys.stdout, *, rules_file: Path | None = None) -> int:
    """``kvmdeck rules --list``: the rules and who applies them."""
    path = rules_path() if rules_file is None else Path(rules_file)
    rules = _load(path, out)
    if rules is None:
        return EXIT_CONFIG
    lock = RulesLock.beside(path)
    if lock.acquire():
        lock.release()
        who = "no kvmdeck applies them right now"
    else:
        who = passive_message(lock.holder_pid())
    out.write(terminal_safe(f"{path}: {len(rules)} rule(s), {who}") + "\n")
    for i, rule in enumerate(rules, 1):
        out.write(f"{i:3d}  {terminal_safe(rule.describe())}\n")
    return EXIT_OK


def run_rules(
    uri: str | None,
    *,
    once: bool = False,
    out: TextIO = sys.stdout,
    rules_file: Path | None = None,
    source: Callable[[], DeviceFeed] | None = None,
    stop_after: float | None = None,
    list_only: bool = False,
    readonly: bool = False,
    services: UsbServices,
) -> int:
    """Apply the rules to ``uri``'s guests. ``once``: the devices present now, then exit;
    otherwise keep watching until SIGINT/SIGTERM (or ``stop_after`` seconds, for tests).
    ``list_only``: print the rules instead (:func:`list_rules`). ``readonly`` refuses.
    ``services``: the adapters (:func:`tui.cli.wiring_usb.usb_services`; the core builds none)."""
    if list_only:
        return list_rules(out, rules_file=rules_file)
    if readonly:
        out.write(
            "Rules not applied: read-only (--readonly) never attaches or detaches. "
            "Use `kvmdeck rules --list` to see them, or run without --readonly.\n"
        )
        return EXIT_CONFIG
    path = rules_path() if rules_file is None else Path(rules_file)
    rules = _load(path, out)
    if rules is None:
        return EXIT_CONFIG
    if not rules and once:
        out.write(f"{path}: no rules, nothing to do. Add [[rule]] tables (see --list).\n")
        return EXIT_OK
    if not rules:  # a service started before its rules: it applies them once they are written
        out.write(
            f"{path}: no rules yet; watching it. Rules added by hand or with R in kvmdeck "
            "apply from then on.\n"
        )
    lock = RulesLock.beside(path)
    try:
        if not lock.acquire():
            out.write(f"Rules not applied: {passive_message(lock.holder_pid())}.\n")
            return EXIT_LOCKED
    except RulesError as exc:
        out.write(f"{terminal_safe(exc, multiline=True)}\n")
        return EXIT_CONFIG
    svc = services
    try:
        return asyncio.run(
            _run(uri, svc, rules, lock, path, out, once, source or svc.local_feed, stop_after)
        )
    finally:
        lock.release()


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.01)
    return True


async def _run(
    uri: str | None,
    svc: UsbServices,
    rules: list[Rule],
    lock: RulesLock,
    path: Path,
    out: TextIO,
    once: bool,
    make_feed: Callable[[], DeviceFeed],
    stop_after: float | None,
) -> int:
    loop = asyncio.get_running_loop()
    if not once:
        svc.register_event_loop()  # before the connection opens, once per process
    try:
        conn = await asyncio.to_thread(svc.open_connection, uri, False)
    except HostdevError as exc:
        out.write(f"{terminal_safe(exc, multiline=True)}\n")
        return EXIT_CONFIG
    runner = Runner(loop, lambda name, exc: _say(out, f"{name}: {type(exc).__name__}: {exc}"))
    coord = UsbCoordinator(runner, rules_file=path, on_note=lambda n: _note(out, n))
    coord.use_rules(rules, lock)
    coord.rulebook.watch_rules()  # a hand edit (or R/D in a TUI) is reloaded while this runs
    port = svc.hostdev(conn)
    # A remote host's USB is its libvirt node devices, not this machine's udev.
    remote = make_feed is svc.local_feed and svc.uses_node_devices(conn)
    feed = svc.remote_feed(conn) if remote else make_feed()
    unregister: Callable[[], None] | None = None

    def on_usb(events: list[UsbEvent]) -> None:
        for ev in events:
            if ev.action in ("add", "remove"):
                d = ev.device
                label = f"{d.ids} at bus {d.busnum} device {d.devnum}" if d else ev.sys_path
                _say(out, f"usb {ev.action}: {label}")
        coord.usb_events(events)

    def on_guest(name: str, kind: str) -> None:
        if kind in LIFECYCLE_KINDS:
            _say(out, f"guest {name}: {kind}")
        coord.guest_event(name, kind)

    try:
        if remote:  # listing node devices (and registering for their events) blocks
            coord.set_devices(await asyncio.to_thread(feed.start, loop, on_usb))
        else:
            coord.set_devices(feed.start(loop, on_usb))
        coord.set_port(port)
        if not await _until(lambda: coord.started, START_TIMEOUT_S):
            out.write(f"No answer from {uri or 'libvirt'} within {START_TIMEOUT_S:.0f} s.\n")
            return EXIT_CONFIG
        running = coord.running
        _say(
            out,
            f"{len(rules)} rule(s), {len(coord.devices)} USB device(s), "
            f"{sum(running.values())}/{len(running)} guest(s) running",
        )
        if once:
            feed.stop()
            await _until(lambda: coord.idle, DRAIN_TIMEOUT_S)
            for line in coord.status_lines():
                _say(out, line)
            return EXIT_FAILED if coord.failures else EXIT_OK
        unregister = await asyncio.to_thread(port.watch_guests, on_guest)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if stop_after is not None:
            loop.call_later(stop_after, stop.set)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            coord.tick()
        await _until(lambda: coord.idle, DRAIN_TIMEOUT_S)
        return EXIT_OK
    finally:
        feed.stop()
        coord.close()
        runner.close()
        if unregister is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(unregister), 5.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.to_thread(svc.close_connection, conn), 5.0)


def _note(out: TextIO, note: UsbNote) -> None:
    _say(out, note.text)


__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "format_status",
    "list_rules",
    "run_rules",
]
