"""USB hostdevs through libvirt: the XML, the calls, libvirt's errors explained, who owns what.

:class:`LibvirtHostdev` is the :class:`tui.core.usb.ports.HostdevPort` of one connection. It
makes the calls; which flags and which entries is decided in :mod:`tui.core.usb.executor`.
No textual here, and nothing above the adapters: every method blocks, so call it from a thread.

Address rule (measured on libvirt 9.0, see tests/hostdev):

* A **live** attach always names the device by ``<vendor>``, ``<product>`` *and* the current
  ``<address bus device>``. The address is what identifies one physical device right now; with
  vendor:product alone libvirt refuses as soon as two identical devices are plugged in.
* A **config** (saved) entry names the device by vendor:product only, with
  ``startupPolicy='optional'``, because ``devnum`` changes on every replug and a saved address
  goes stale. Only when an identical twin is present does the config entry get the address too.
* Numbers: ids as ``0x%04x``; bus/device in **decimal** with no leading zero (libvirt reads
  "010" as octal 8 and refuses "009").

A running guest with LIVE+CONFIG gets two calls (live XML with address, config XML without);
if the second fails the device stays attached live and the result carries ``config_error``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import libvirt

from tui.adapters.libvirt.domxml import UsbHostdev, parse_domain
from tui.model.events import EVENT_NAMES
from tui.model.usb import (
    GuestUsb,
    HostdevError,
    HostdevResult,
    UsbDevice,
    UsbOwner,
    UsbOwners,
    describe_device,
    libvirt_would_match,
)

log = logging.getLogger(__name__)

AFFECT_LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
AFFECT_CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
XML_INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


# -- XML ---------------------------------------------------------------------------------------
def _source_xml(
    vendor: int | None,
    product: int | None,
    bus: int | None,
    device: int | None,
    startup_optional: bool,
) -> str:
    parts = []
    if vendor is not None:
        parts.append(f"<vendor id='0x{vendor:04x}'/>")
    if product is not None:
        parts.append(f"<product id='0x{product:04x}'/>")
    if bus is not None and device is not None:
        parts.append(f"<address bus='{int(bus):d}' device='{int(device):d}'/>")
    policy = " startupPolicy='optional'" if startup_optional else ""
    inner = "\n    ".join(parts)
    return (
        "<hostdev mode='subsystem' type='usb' managed='yes'>\n"
        f"  <source{policy}>\n    {inner}\n  </source>\n"
        "</hostdev>"
    )


def hostdev_xml(dev: UsbDevice, *, with_address: bool, startup_optional: bool) -> str:
    """The ``<hostdev>`` element for ``dev``.

    ``with_address`` adds the current bus/device (decimal); ``startup_optional`` adds
    ``startupPolicy='optional'`` (for saved configs: a missing device then does not block boot).
    """
    if with_address and (dev.busnum <= 0 or dev.devnum <= 0):
        raise HostdevError(
            "invalid",
            f"{dev.label} ({dev.ids}) has no bus/device number (bus {dev.busnum}, "
            f"device {dev.devnum}), so it cannot be attached by address",
            device=dev,
        )
    return _source_xml(
        dev.vendor_id,
        dev.product_id,
        dev.busnum if with_address else None,
        dev.devnum if with_address else None,
        startup_optional,
    )


def hostdev_xml_from(entry: UsbHostdev) -> str:
    """The XML that names an existing domain entry exactly as the domain holds it (for detach)."""
    return _source_xml(
        entry.vendor, entry.product, entry.bus, entry.device, entry.startup_policy == "optional"
    )


def domain_wrapper(hostdev: str, name: str = "kvmdeck-validate") -> str:
    """A minimal whole ``<domain>`` around one ``<hostdev>`` for ``virt-xml-validate FILE domain``."""
    return (
        f"<domain type='qemu'>\n  <name>{name}</name>\n  <memory unit='MiB'>64</memory>\n"
        "  <os><type arch='x86_64'>hvm</type></os>\n"
        f"  <devices>\n{hostdev}\n  </devices>\n</domain>\n"
    )


# -- errors ------------------------------------------------------------------------------------
def explain(
    exc: libvirt.libvirtError, action: str, guest: str, dev: UsbDevice | None
) -> HostdevError:
    """Turn a libvirtError into a HostdevError with a sentence a user can act on."""
    text = exc.get_error_message() or str(exc)
    code = exc.get_error_code() or 0
    low = text.lower()
    what = describe_device(dev)
    to = "to" if action == "attach" else "from"
    head = f"Cannot {action} {what} {to} guest '{guest}'"
    if code in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_INVALID_DOMAIN):
        kind, why = "guest-gone", "the guest no longer exists"
    elif "domain is not running" in low:
        kind, why = "guest-stopped", "the guest is not running"
    elif "transient domains do not have" in low:
        kind, why = "transient", "the guest is transient, so it has no saved config"
    elif code in (libvirt.VIR_ERR_OPERATION_DENIED, libvirt.VIR_ERR_ACCESS_DENIED) or (
        "permission denied" in low or "read only access" in low
    ):
        kind, why = "permission", "permission denied (read-only connection or missing rights)"
    elif "already in the domain configuration" in low:
        kind, why = "invalid", "the guest's saved config already holds it"
    elif "in use by" in low:
        kind, why = "in-use", "another guest or driver is using it"
    elif code == libvirt.VIR_ERR_DEVICE_MISSING or "device not found" in low:
        kind, why = "not-attached", "the guest does not hold that device"
    elif (
        "/sys/bus/usb" in low
        or "did not find usb device" in low
        or "failed to find host usb device" in low
        or ("no such file" in low and "usb" in low)
    ):
        kind, why = "device-gone", "the device is not on the host (unplugged, or no USB bus)"
    elif "unable to execute qemu command" in low or "qemu" in low:
        kind, why = "refused", "QEMU refused it"
    else:
        kind, why = "failed", "libvirt refused it"
    return HostdevError(
        kind,
        f"{head}: {why}. libvirt: {text}",
        guest=guest,
        device=dev,
        libvirt_message=text,
        code=code,
    )


# -- the port ------------------------------------------------------------------------------------
class LibvirtHostdev:
    """:class:`tui.core.usb.ports.HostdevPort` over one libvirt connection (or None: every
    call then fails with ``not-connected``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def _domain(self, guest: str, action: str = "attach") -> Any:
        if self.conn is None:
            raise HostdevError("not-connected", "the host is not connected", guest=guest)
        try:
            try:
                return self.conn.lookupByName(guest)
            except libvirt.libvirtError:
                if len(guest) == 36 and guest.count("-") == 4:
                    return self.conn.lookupByUUIDString(guest)
                raise
        except libvirt.libvirtError as exc:
            raise explain(exc, action, guest, None) from exc

    def inspect(self, guest: str) -> GuestUsb:
        dom = self._domain(guest)
        try:
            active = bool(dom.isActive())
            persistent = bool(dom.isPersistent())
            live = parse_domain(dom.XMLDesc(0)).usb_hostdevs if active else ()
            saved = parse_domain(dom.XMLDesc(XML_INACTIVE)).usb_hostdevs if persistent else ()
        except libvirt.libvirtError as exc:
            raise explain(exc, "attach", guest, None) from exc
        return GuestUsb(guest, active, persistent, tuple(live), tuple(saved))

    def apply_attach(
        self,
        guest: str,
        dev: UsbDevice,
        *,
        live: bool,
        config: bool,
        config_address: bool,
        note: str = "",
    ) -> HostdevResult:
        dom = self._domain(guest)
        calls: list[tuple[str, int]] = []
        config_error = ""
        config_xml = hostdev_xml(dev, with_address=config_address, startup_optional=True)
        try:
            if live:
                xml = hostdev_xml(dev, with_address=True, startup_optional=False)
                dom.attachDeviceFlags(xml, AFFECT_LIVE)
                calls.append((xml, AFFECT_LIVE))
                if config:
                    try:
                        dom.attachDeviceFlags(config_xml, AFFECT_CONFIG)
                        calls.append((config_xml, AFFECT_CONFIG))
                    except libvirt.libvirtError as exc:
                        config_error = str(explain(exc, "attach", guest, dev))
            elif config:
                dom.attachDeviceFlags(config_xml, AFFECT_CONFIG)
                calls.append((config_xml, AFFECT_CONFIG))
        except libvirt.libvirtError as exc:
            raise explain(exc, "attach", guest, dev) from exc
        did_config = any(f == AFFECT_CONFIG for _x, f in calls)
        return HostdevResult(
            "attach", guest, dev, live, did_config, tuple(calls), note, config_error
        )

    def apply_detach(
        self,
        guest: str,
        dev: UsbDevice,
        *,
        live_entry: UsbHostdev | None,
        config_entry: UsbHostdev | None,
    ) -> HostdevResult:
        dom = self._domain(guest, "detach")
        calls: list[tuple[str, int]] = []
        try:
            for entry, flags in ((live_entry, AFFECT_LIVE), (config_entry, AFFECT_CONFIG)):
                if entry is not None:
                    xml = hostdev_xml_from(entry)
                    dom.detachDeviceFlags(xml, flags)
                    calls.append((xml, flags))
        except libvirt.libvirtError as exc:
            raise explain(exc, "detach", guest, dev) from exc
        flags_sent = [f for _x, f in calls]
        return HostdevResult(
            "detach",
            guest,
            dev,
            AFFECT_LIVE in flags_sent,
            AFFECT_CONFIG in flags_sent,
            tuple(calls),
        )

    def owners(self) -> UsbOwners:
        if self.conn is None:
            return UsbOwners(errors=["the host is not connected"])
        try:
            return usb_owners(self.conn)
        except libvirt.libvirtError as exc:
            return UsbOwners(errors=[exc.get_error_message() or str(exc)])

    def guest_states(self) -> dict[str, bool]:
        states: dict[str, bool] = {}
        if self.conn is None:
            raise HostdevError("not-connected", "the host is not connected")
        try:
            domains = self.conn.listAllDomains(0)
        except libvirt.libvirtError as exc:
            text = exc.get_error_message() or str(exc)
            raise HostdevError(
                "failed", f"Cannot list the guests: {text}", libvirt_message=text
            ) from exc
        for dom in domains:
            with contextlib.suppress(libvirt.libvirtError):
                states[dom.name()] = bool(dom.isActive())
        return states

    def watch_guests(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        def lifecycle(_c: object, dom: Any, event: int, _detail: int, _o: object) -> None:
            try:
                name = dom.name()
            except libvirt.libvirtError:
                return
            callback(name, EVENT_NAMES.get(event, f"event {event}"))

        conn = self.conn
        callback_id = conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None
        )

        def unregister() -> None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(callback_id)

        return unregister


# -- ownership ---------------------------------------------------------------------------------
def usb_owners(conn: Any) -> UsbOwners:
    """Parse every guest's live and saved XML for USB hostdevs (blocking; a few ms per guest).

    Call it on DEVICE_ADDED/REMOVED and lifecycle events, never per tick.
    """
    result = UsbOwners()
    for dom in conn.listAllDomains(0):
        try:
            name = dom.name()
            uuid = dom.UUIDString()
            active = bool(dom.isActive())
            live = parse_domain(dom.XMLDesc(0)).usb_hostdevs if active else ()
            saved = (
                parse_domain(dom.XMLDesc(XML_INACTIVE)).usb_hostdevs if (dom.isPersistent()) else ()
            )
        except libvirt.libvirtError as exc:  # vanished between list and read
            result.errors.append(str(exc))
            continue
        # Live XML carries the resolved address; the saved entry may be ids-only. Pair them by
        # libvirt's matcher so one device is one owner with both flags.
        merged: list[tuple[UsbHostdev, bool, bool]] = [(h, True, False) for h in live]
        for h in saved:
            for i, (lh, is_live, _c) in enumerate(merged):
                if is_live and (
                    libvirt_would_match(h, lh) and (h.vendor, h.product) == (lh.vendor, lh.product)
                ):
                    merged[i] = (lh, True, True)
                    break
            else:
                merged.append((h, False, True))
        for h, is_live, is_saved in merged:
            result.entries.append(UsbOwner(name, uuid, h, is_live, is_saved))
    result.index()
    return result


__all__ = [
    "HostdevError",
    "HostdevResult",
    "LibvirtHostdev",
    "domain_wrapper",
    "explain",
    "hostdev_xml",
    "hostdev_xml_from",
    "usb_owners",
]
