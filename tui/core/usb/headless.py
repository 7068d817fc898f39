"""``kvmdeck rules --run`` / ``--once`` / ``--list``: apply USB auto-attach rules without the TUI.

One asyncio loop carries libvirt's events (libvirtaio) and the pyudev monitor
(:class:`tui.adapters.local.udev.UsbMonitor`). The :class:`~tui.core.usb.engine.RuleEngine` decides; one
consumer task executes its requests one at a time in a worker thread (libvirt calls block).
Only the holder of the rules lock applies rules; a second instance exits with a message.

Exit codes: 0 ok, 1 a rule failed (``--once``), 2 bad rules file or no connection, 3 another
kvmdeck applies the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

import libvirt

from tui.adapters.libvirt.connection import ConnectFailed, open_connection, register_event_loop
from tui.adapters.libvirt.events import EVENT_NAMES
from tui.adapters.libvirt.hostdev import HostdevError, HostdevResult, execute, usb_owners
from tui.config import rules_path
from tui.core.usb.engine import AttachRequest, Request, RuleEngine
from tui.core.usb.rulelock import RulesLock, passive_message
from tui.core.usb.rules import Rule, RulesError, load_rules
from tui.model.usb import UsbDevice, UsbEvent

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 3


class DeviceSource(Protocol):
    """What :class:`tui.adapters.local.udev.UsbMonitor` offers (tests pass their own)."""

    def start(
        self, loop: asyncio.AbstractEventLoop, on_events: Callable[[list[UsbEvent]], None]
    ) -> list[UsbDevice]: ...

    def stop(self) -> None: ...


def _default_source() -> DeviceSource:
    from tui.adapters.local.udev import UsbMonitor

    return UsbMonitor()


def _say(out: TextIO, text: str) -> None:
    out.write(f"{time.strftime('%H:%M:%S')} {text}\n")
    out.flush()


def _what(req: Request) -> str:
    d = req.device
    verb = "attach" if isinstance(req, AttachRequest) else "detach"
    arrow = "→" if verb == "attach" else "←"
    return (
        f"{verb} {d.ids} {d.label!r} (bus {d.busnum} device {d.devnum}) {arrow} {req.guest} "
        f"[{req.reason}]"
    )


def _done(result: HostdevResult | None) -> str:
    if result is None:
        return "ok (already gone)"
    parts = [p for p, on in (("live", result.live), ("config", result.config)) if on]
    text = f"ok ({'+'.join(parts) or 'nothing to do'})"
    if result.note:
        text += f"; {result.note}"
    if result.config_error:
        text += f"; config not saved: {result.config_error}"
    return text


def guest_states(conn: Any) -> dict[str, bool]:
    """{guest name: running} for every guest (blocking)."""
    states = {}
    for dom in conn.listAllDomains(0):
        with contextlib.suppress(libvirt.libvirtError):
            states[dom.name()] = bool(dom.isActive())
    return states


def _load(path: Path, out: TextIO) -> list[Rule] | None:
    """The rules, or None after printing why the file cannot be used."""
    try:
        return load_rules(path)
    except RulesError as exc:
        out.write(f"{exc}\n")
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
    out.write(f"{path}: {len(rules)} rule(s), {who}\n")
    for i, rule in enumerate(rules, 1):
        out.write(f"{i:3d}  {rule.describe()}\n")
    return EXIT_OK


def run_rules(
    uri: str | None,
    *,
    once: bool = False,
    out: TextIO = sys.stdout,
    rules_file: Path | None = None,
    source: Callable[[], DeviceSource] | None = None,
    stop_after: float | None = None,
    list_only: bool = False,
) -> int:
    """Apply the rules to ``uri``'s guests. ``once``: the devices present now, then exit;
    otherwise keep watching until SIGINT/SIGTERM (or ``stop_after`` seconds, for tests).
    ``list_only``: print the rules instead (:func:`list_rules`)."""
    if list_only:
        return list_rules(out, rules_file=rules_file)
    path = rules_path() if rules_file is None else Path(rules_file)
    rules = _load(path, out)
    if rules is None:
        return EXIT_CONFIG
    if not rules:
        out.write(f"{path}: no rules, nothing to do. Add [[rule]] tables (see --list).\n")
        return EXIT_OK
    lock = RulesLock.beside(path)
    try:
        if not lock.acquire():
            out.write(f"Rules not applied: {passive_message(lock.holder_pid())}.\n")
            return EXIT_LOCKED
    except RulesError as exc:
        out.write(f"{exc}\n")
        return EXIT_CONFIG
    try:
        runner = _Runner(uri, rules_engine=RuleEngine(rules, lock=lock), out=out, once=once)
        return asyncio.run(runner.main(source or _default_source, stop_after))
    finally:
        lock.release()


class _Runner:
    def __init__(self, uri: str | None, *, rules_engine: RuleEngine, out: TextIO, once: bool):
        self.uri = uri
        self.engine = rules_engine
        self.out = out
        self.once = once
        self.conn: Any = None
        self.queue: asyncio.Queue[Request] = asyncio.Queue()
        self.failures = 0
        self.stop = asyncio.Event()
        self._tasks: set[asyncio.Future[None]] = set()

    def submit(self, requests: list[Request]) -> None:
        for req in requests:
            self.queue.put_nowait(req)

    async def worker(self) -> None:
        while True:
            req = await self.queue.get()
            try:
                present = list(self.engine.devices.values())
                try:
                    result = await asyncio.to_thread(execute, self.conn, req, present)
                except HostdevError as exc:
                    self.failures += 1
                    _say(self.out, f"{_what(req)}: FAILED: {exc}")
                    self.submit(self.engine.on_result(req, str(exc)))
                else:
                    _say(self.out, f"{_what(req)}: {_done(result)}")
                    self.submit(self.engine.on_result(req, None))
            finally:
                self.queue.task_done()

    def on_usb(self, events: list[UsbEvent]) -> None:
        for ev in events:
            if ev.action in ("add", "remove"):
                dev = ev.device
                label = f"{dev.ids} at bus {dev.busnum} device {dev.devnum}" if dev else ev.sys_path
                _say(self.out, f"usb {ev.action}: {label}")
        self.submit(self.engine.on_usb_events(events))

    def on_lifecycle(self, _c: object, dom: Any, event: int, _detail: int, _o: object) -> None:
        kind = EVENT_NAMES.get(event, "")
        try:
            name = dom.name()
        except libvirt.libvirtError:
            return
        if kind in ("started", "stopped", "crashed", "undefined", "defined"):
            _say(self.out, f"guest {name}: {kind}")
            self._tasks.add(task := asyncio.ensure_future(self.guest_event(name, kind)))
            task.add_done_callback(self._tasks.discard)

    async def guest_event(self, name: str, kind: str) -> None:
        """Re-read who holds what (a started guest may have taken its saved devices), then let
        the engine decide. Once per lifecycle event, never per tick."""
        with contextlib.suppress(libvirt.libvirtError):
            owners = await asyncio.to_thread(usb_owners, self.conn)
            self.engine.on_owners(owners.live_map(self.engine.devices.values()))
        self.submit(self.engine.on_guest_event(name, kind))

    async def main(self, make_source: Callable[[], DeviceSource], stop_after: float | None) -> int:
        loop = asyncio.get_running_loop()
        if not self.once:
            register_event_loop()  # before the connection opens, once per process
        try:
            self.conn = await asyncio.to_thread(open_connection, self.uri)
        except ConnectFailed as exc:
            self.out.write(f"{exc}\n")
            return EXIT_CONFIG
        callback_id: int | None = None
        source = make_source()
        worker = asyncio.create_task(self.worker())
        try:
            devices = source.start(loop, self.on_usb)
            running = await asyncio.to_thread(guest_states, self.conn)
            owners = await asyncio.to_thread(usb_owners, self.conn)
            _say(
                self.out,
                f"{len(self.engine.rules)} rule(s), {len(devices)} USB device(s), "
                f"{sum(running.values())}/{len(running)} guest(s) running",
            )
            self.submit(self.engine.sync(devices, running, owners.live_map(devices)))
            if self.once:
                source.stop()
                await self.queue.join()
                for st in self.engine.statuses():
                    _say(
                        self.out,
                        f"rule {st.rule.describe()}: {st.state}"
                        + (f": {st.message}" if st.message else ""),
                    )
                return EXIT_FAILED if self.failures else EXIT_OK
            callback_id = self.conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self.on_lifecycle, None
            )
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.stop.set)
            if stop_after is not None:
                loop.call_later(stop_after, self.stop.set)
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=1.0)
                self.submit(self.engine.tick())
            await self.queue.join()
            return EXIT_OK
        finally:
            source.stop()
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            if callback_id is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self.conn.domainEventDeregisterAny(callback_id)
            with contextlib.suppress(libvirt.libvirtError):
                self.conn.close()
