"""USB devices of a (remote) host as libvirt node devices, followed by their lifecycle events.

Used when the host is not this machine, so pyudev cannot see it. Devices come back as the same
:class:`UsbDevice` with ``source="libvirt"``; ``sys_path`` holds the node-device name
("usb_2_1_3"), which is also what lifecycle events carry, so it is the row key. libvirt names a
USB device ``usb_`` + its sysfs name with ``-`` and ``.`` made ``_``: "usb_2_1_3" is port
"2-1.3" (root hubs "usb_usb2", interfaces "usb_2_1_3_1_0"); :func:`port_from_name` reads it
back when the XML has no ``<path>`` (the test driver).

:class:`NodeDeviceWatch` lists the devices once (at connect, and again after a reconnect: the
app makes a new watch per connection), then follows ``VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE``.
Threading: the event callback runs on libvirt's event loop (libvirtaio: the app's loop), where
nothing may block, so it never asks the host anything: a ``DELETED`` is answered from what is
known, a ``CREATED`` queues the ``XMLDesc`` lookup for the watch's own daemon thread, whose
result comes back on the loop. Every delivery is scheduled on the loop in the context the feed
was made in (the app's), never run inside libvirt's callback. A generation per name drops a lookup overtaken by a later event
(unplugged again meanwhile). When the server refuses the registration, the watch says so in the
log and lists the devices every :data:`LIST_EVERY_S` seconds instead.
:class:`RemoteUsbFeed` is the :class:`tui.core.usb.ports.DeviceFeed` built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import libvirt
import libvirtaio

from tui.adapters.libvirt.held import Using, fixed
from tui.model.backend import BackendError
from tui.model.usb import UsbDevice, UsbEvent

log = logging.getLogger(__name__)

EventsCallback = Callable[[list[UsbEvent]], None]
Release = Callable[[libvirt.virConnect], None]
AddRelease = Callable[[Release], bool]  # LibvirtHost.add_release
LIST_EVERY_S = 5.0  # the fallback when node-device events are refused
_PORT_NAME = re.compile(r"usb_(\d+)((?:_\d+)+)")


def _int(text: str | None, base: int) -> int:
    if not text:
        return 0
    try:
        return int(text.strip(), base)
    except ValueError:
        return 0


def is_usb_name(name: str) -> bool:
    """Could this node device be a USB device? (pci_…, net_…, scsi_… never start so.)"""
    return name.startswith("usb")


def port_from_name(name: str) -> str:
    """The bus-port path a USB device's node-device name carries: "usb_2_1_3" → "2-1.3".
    Anything else (a root hub "usb_usb2", the test driver's "usb1") comes back as it is."""
    m = _PORT_NAME.fullmatch(name)
    if m is None:
        return name
    return f"{m.group(1)}-{'.'.join(m.group(2)[1:].split('_'))}"


def usb_device_from_xml(xml: str) -> UsbDevice | None:
    """Parse a node device's ``XMLDesc``; None unless it has a ``usb_device`` capability."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    cap = root.find("capability[@type='usb_device']")
    if cap is None:
        return None
    name = (root.findtext("name") or "").strip()
    path = (root.findtext("path") or "").strip()
    vendor = cap.find("vendor")
    product = cap.find("product")
    driver = (root.findtext("driver/name") or "").strip()
    vendor_name = (vendor.text or "").strip() if vendor is not None else ""
    product_name = (product.text or "").strip() if product is not None else ""
    return UsbDevice(
        sys_path=name,
        port=PurePosixPath(path).name if path else port_from_name(name),
        busnum=_int(cap.findtext("bus"), 10),  # decimal, as libvirt writes it
        devnum=_int(cap.findtext("device"), 10),
        vendor_id=_int(vendor.get("id") if vendor is not None else None, 16),
        product_id=_int(product.get("id") if product is not None else None, 16),
        vendor_name=vendor_name,
        product_name=product_name,
        driver=driver,
        names_from="libvirt" if (vendor_name or product_name) else "none",
        source="libvirt",
    )


def libvirt_usb_devices(conn: libvirt.virConnect) -> list[UsbDevice]:
    """The USB devices libvirt reports for the host behind ``conn``, sorted by name."""
    found = []
    for nodedev in conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV):
        try:
            device = usb_device_from_xml(nodedev.XMLDesc(0))
        except libvirt.libvirtError:
            continue  # unplugged between list and XMLDesc
        if device is not None:
            found.append(device)
    return sorted(found, key=lambda d: d.sys_path)


def lookup_usb_device(conn: libvirt.virConnect, name: str) -> UsbDevice | None:
    """One node device by name (blocks: an RPC or two); None when gone or not USB."""
    try:
        return usb_device_from_xml(conn.nodeDeviceLookupByName(name).XMLDesc(0))
    except libvirt.libvirtError:
        return None


class NodeDeviceWatch:
    """The USB node devices of one connection, kept current, as :class:`UsbEvent` batches.

    :meth:`start` blocks (registration and the one full list): call it from a worker thread.
    Events need libvirt's event loop registered before the connection opened
    (``register_event_loop()``); ``on_events`` runs on ``loop``. ``known`` is the device set
    (what :meth:`start` listed plus what events changed), so a ``DELETED`` (whose XML is gone)
    still says what left. ``mode`` is "events" or "listing" (the fallback), ``note`` why.

    ``using`` (a host's counted connection, tui/adapters/libvirt/held.py) and ``add_release``
    (``LibvirtHost.add_release``): every call of the watch, from any of its threads, holds the
    connection while it runs, and the host's close deregisters the event callback before it
    waits for them; once the close began, the threads end. Without them (tests, the CLI that
    owns ``conn``) the watch uses ``conn`` as it is.
    """

    def __init__(
        self,
        conn: libvirt.virConnect,
        on_events: EventsCallback,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        list_every: float = LIST_EVERY_S,
        context: contextvars.Context | None = None,
        using: Using | None = None,
        add_release: AddRelease | None = None,
    ) -> None:
        self.conn = conn
        self.using = using or fixed(conn)
        self.add_release = add_release
        self.label = "the host"  # its URI, read by start()
        self.on_events = on_events
        self.loop = loop
        self.list_every = list_every
        self.context = context  # what the deliveries run in (the app's: its active app)
        self.known: dict[str, UsbDevice] = {}
        self.callback_id: int | None = None
        self.mode = ""
        self.note = ""
        self.lookups = 0  # XMLDesc lookups done for CREATED events (tests)
        self._lock = threading.Lock()
        self._gen: dict[str, int] = {}  # name -> events seen for it (a lookup carries one)
        self._queue: queue.SimpleQueue[tuple[str, int] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._halted = threading.Event()

    # -- start and stop ---------------------------------------------------------------------
    def start(self) -> list[UsbDevice]:
        """Register for lifecycle events (else fall back to listing), then list once."""
        with self.using() as conn:
            self.label = _uri(conn)  # virConnectGetURI: local, but only on a live connection
        if libvirtaio.getCurrentImpl() is None:  # this process follows no libvirt events
            self.mode = "listing"  # (``kvmdeck rules --once``: one list is all it needs)
            self.note = f"no libvirt event loop here: listing every {self.list_every:g} s"
            log.info("USB of %s: %s", self.label, self.note)
        else:
            try:
                with self.using() as conn:
                    self.callback_id = conn.nodeDeviceEventRegisterAny(
                        None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
                    )
                    if self.add_release is not None and not self.add_release(self.release):
                        self.release(conn)  # the host's close began meanwhile
                self.mode = "events"
            except libvirt.libvirtError as exc:
                self.mode = "listing"
                self.note = (
                    f"node-device events refused ({exc.get_error_message() or exc}): "
                    f"listing USB devices every {self.list_every:g} s instead"
                )
                log.warning("USB of %s: %s", self.label, self.note)
        with self._lock:
            before = dict(self._gen)
        try:
            with self.using() as conn:
                listed = libvirt_usb_devices(conn)
        except BaseException:
            self.stop()
            raise
        with self._lock:
            # A device with an event during the list is what the event says, not the list.
            fresh = {
                d.sys_path: d
                for d in listed
                if self._gen.get(d.sys_path, 0) == before.get(d.sys_path, 0)
            }
            fresh.update(self.known)
            self.known = fresh
            devices = sorted(fresh.values(), key=lambda d: d.sys_path)
        if self.mode == "listing" and not self._halted.is_set():
            threading.Thread(
                target=self._list_forever, name="usb-nodedev-list", daemon=True
            ).start()
        return devices

    def halt(self) -> None:
        """Deliver nothing more and let the threads end. Never blocks."""
        self._halted.set()
        self._queue.put(None)

    def unregister(self) -> None:
        """Drop the event registration (blocks: an RPC). Once the host's close began, the
        close does it (:meth:`release`)."""
        if self.callback_id is None:
            return
        with contextlib.suppress(BackendError), self.using() as conn:
            self.release(conn)

    def release(self, conn: libvirt.virConnect) -> None:
        """Halt and deregister on ``conn`` (live: the caller holds it, or the host's close
        calls this before it waits for the calls in flight). Once, whoever comes first."""
        self.halt()
        with self._lock:
            cid, self.callback_id = self.callback_id, None
        if cid is not None:
            with contextlib.suppress(libvirt.libvirtError):  # connection already dead
                conn.nodeDeviceEventDeregisterAny(cid)

    def stop(self) -> None:
        self.halt()
        self.unregister()

    def devices(self) -> list[UsbDevice]:
        with self._lock:
            return sorted(self.known.values(), key=lambda d: d.sys_path)

    # -- events (on the loop) ---------------------------------------------------------------
    def _on_lifecycle(
        self,
        _conn: libvirt.virConnect,
        nodedev: libvirt.virNodeDevice,
        event: int,
        _detail: int,
        _opaque: Any,
    ) -> None:
        """libvirt's callback, on the loop: no RPC here (``name()`` is local)."""
        self.event(nodedev.name(), event)

    def event(self, name: str, event: int) -> None:
        """One lifecycle event for node device ``name`` (on the loop)."""
        if self._halted.is_set():
            return
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        if event == libvirt.VIR_NODE_DEVICE_EVENT_DELETED:
            with self._lock:
                self._gen[name] = self._gen.get(name, 0) + 1
                gone = self.known.pop(name, None)
            if gone is not None:
                self._post(self._deliver, [UsbEvent("remove", gone, name, time.time())])
        elif event == libvirt.VIR_NODE_DEVICE_EVENT_CREATED and is_usb_name(name):
            with self._lock:
                gen = self._gen[name] = self._gen.get(name, 0) + 1
            self._queue.put((name, gen))
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._lookup_forever, name="usb-nodedev-lookup", daemon=True
                )
                self._worker.start()

    def _lookup_forever(self) -> None:
        """The watch's daemon thread: one lookup at a time, in event order."""
        while (item := self._queue.get()) is not None and not self._halted.is_set():
            name, gen = item
            try:
                with self.using() as conn:
                    device = lookup_usb_device(conn, name)
            except BackendError:  # the host's close began: this watch is done
                return
            posted = self._post(self._looked_up, name, gen, device)
            self.lookups += 1
            if not posted:
                return

    def _looked_up(self, name: str, gen: int, device: UsbDevice | None) -> None:
        if self._halted.is_set():
            return
        with self._lock:
            if device is None or self._gen.get(name) != gen:
                return  # not a USB device, gone again, or overtaken by a later event
            self.known[name] = device
        self._deliver([UsbEvent("add", device, name, time.time())])

    def _deliver(self, events: list[UsbEvent]) -> None:
        if not self._halted.is_set():
            self.on_events(events)

    # -- the fallback: listing ----------------------------------------------------------------
    def _list_forever(self) -> None:
        while not self._halted.wait(self.list_every):
            try:
                with self.using() as conn:
                    listed = libvirt_usb_devices(conn)
            except BackendError:  # the host's close began: the reconnect makes a new watch
                return
            except libvirt.libvirtError as exc:  # the reconnect makes a new watch
                log.debug("USB of %s: listing failed: %s", self.label, exc)
                continue
            if not self._post(self.apply_list, listed):
                return

    def apply_list(self, listed: list[UsbDevice]) -> None:
        """A fresh list (on the loop): what changed since the last one, as one batch."""
        if self._halted.is_set():
            return
        now = time.time()
        events: list[UsbEvent] = []
        fresh = {d.sys_path: d for d in listed}
        with self._lock:
            for name in sorted(set(self.known) - set(fresh)):
                events.append(UsbEvent("remove", self.known.pop(name), name, now))
            for name, dev in sorted(fresh.items()):
                if self.known.get(name) != dev:
                    self.known[name] = dev
                    events.append(UsbEvent("add", dev, name, now))
        if events:
            self._deliver(events)

    def _post(self, fn: Callable[..., None], *args: Any) -> bool:
        """Run ``fn`` on the loop, in :attr:`context` (from any thread; never inline)."""
        loop = self.loop
        if loop is None or self._halted.is_set():
            return False
        try:
            loop.call_soon_threadsafe(fn, *args, context=self.context)
        except RuntimeError:  # the loop is closed: the app is gone
            return False
        return True


def _uri(conn: libvirt.virConnect) -> str:
    try:
        return str(conn.getURI())
    except libvirt.libvirtError:
        return "the host"


class RemoteUsbFeed:
    """:class:`tui.core.usb.ports.DeviceFeed` of a host seen through libvirt.

    :meth:`start` blocks (it registers for node-device events and lists once): run it in a
    worker thread. Events then arrive on ``loop``. :meth:`stop` never blocks: it silences the
    feed at once and unregisters in a daemon thread, so a host that stopped answering cannot
    hold up the caller (or quit). ``note`` says why it lists instead of following events.
    """

    def __init__(
        self,
        conn: libvirt.virConnect,
        *,
        list_every: float = LIST_EVERY_S,
        using: Using | None = None,
        add_release: AddRelease | None = None,
    ) -> None:
        self.conn = conn
        self.list_every = list_every
        self.using = using  # the host's counted connection (NodeDeviceWatch)
        self.add_release = add_release
        # Made on the loop by the app: its context (Textual's active app) for the deliveries.
        self.context = contextvars.copy_context()
        self.watch: NodeDeviceWatch | None = None
        self._stopped = False

    @property
    def note(self) -> str:
        return self.watch.note if self.watch is not None else ""

    def start(self, loop: asyncio.AbstractEventLoop, on_events: EventsCallback) -> list[UsbDevice]:
        def deliver(events: list[UsbEvent]) -> None:
            if not self._stopped:
                on_events(events)

        watch = NodeDeviceWatch(
            self.conn,
            deliver,
            loop,
            list_every=self.list_every,
            context=self.context,
            using=self.using,
            add_release=self.add_release,
        )
        self.watch = watch
        devices = watch.start()
        if self._stopped:  # stopped while starting: undo the registration here (a thread)
            watch.stop()
        return devices

    def stop(self) -> None:
        self._stopped = True
        watch = self.watch
        if watch is not None:
            watch.halt()
            if watch.callback_id is not None:
                threading.Thread(target=watch.unregister, name="usb-feed-stop", daemon=True).start()

    def devices(self) -> list[UsbDevice]:
        watch = self.watch
        if watch is None or self._stopped:
            return []
        return watch.devices()
