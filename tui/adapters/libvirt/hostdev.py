"""USB hostdev XML, attach/detach with the right AFFECT flags, and who owns which device.

No textual here. Every function that takes a connection or a domain blocks: call it from a
thread worker.

Address rule (measured on libvirt 9.0, see tests/hostdev):

* A **live** attach always names the device by ``<vendor>``, ``<product>`` *and* the current
  ``<address bus device>``. The address is what identifies one physical device right now; with
  vendor:product alone libvirt refuses as soon as two identical devices are plugged in.
* A **config** (saved) entry names the device by vendor:product only, with
  ``startupPolicy='optional'``, because ``devnum`` changes on every replug and a saved address
  goes stale. Only when an identical twin is present does the config entry get the address too
  (as virt-manager does): then vendor:product alone would be ambiguous.
* Numbers: ids as ``0x%04x``; bus/device in **decimal** with no leading zero (libvirt reads
  "010" as octal 8 and refuses "009").

Flag rule (:func:`plan_attach`): running guest → LIVE, plus CONFIG when the caller asks to keep
it and the guest is persistent and its saved config does not already hold the device (libvirt
refuses "device is already in the domain configuration"); shut-off guest → CONFIG only.
A running guest with LIVE+CONFIG gets two calls (live XML with address, config XML without);
if the second fails the device stays attached live and the result carries ``config_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import libvirt

from tui.adapters.libvirt.domxml import UsbHostdev, parse_domain
from tui.core.usb.engine import AttachRequest, DetachRequest
from tui.model.usb import UsbDevice

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


# -- matching (mirrors libvirt's virDomainHostdevMatchSubsysUSB) ---------------------------------
def _has_address(entry: UsbHostdev) -> bool:
    return bool(entry.bus) and bool(entry.device)


def entry_matches_device(entry: UsbHostdev, dev: UsbDevice) -> bool:
    """Does a domain's hostdev entry name this physical device?

    An entry with an address matches by bus/device (and by ids when it has them, so a recycled
    devnum of another device does not count); an entry without one matches by vendor:product.
    """
    if _has_address(entry):
        if (entry.bus, entry.device) != (dev.busnum, dev.devnum):
            return False
        return entry.vendor in (None, dev.vendor_id) and entry.product in (None, dev.product_id)
    return (entry.vendor, entry.product) == (dev.vendor_id, dev.product_id)


def libvirt_would_match(new: UsbHostdev, existing: UsbHostdev) -> bool:
    """libvirt's own duplicate test: a new def with an address matches by bus/device only, one
    without by vendor:product only (measured: 'device is already in the domain configuration')."""
    if _has_address(new):
        return (new.bus, new.device) == (existing.bus, existing.device)
    return (new.vendor, new.product) == (existing.vendor, existing.product)


def has_twin(dev: UsbDevice, present: Iterable[UsbDevice]) -> bool:
    """Is another device with the same vendor:product plugged in?"""
    return any(
        (o.vendor_id, o.product_id) == (dev.vendor_id, dev.product_id) and o.key != dev.key
        for o in present
    )


def _as_entry(dev: UsbDevice, with_address: bool) -> UsbHostdev:
    return UsbHostdev(
        vendor=dev.vendor_id,
        product=dev.product_id,
        bus=dev.busnum if with_address else None,
        device=dev.devnum if with_address else None,
    )


# -- errors and results ------------------------------------------------------------------------
class HostdevError(Exception):
    """An attach/detach that failed. ``kind`` is one of: guest-gone, guest-stopped, device-gone,
    not-attached, in-use, permission, refused, transient, invalid, failed. ``libvirt_message``
    is libvirt's own text (empty when the check was ours)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        guest: str = "",
        device: UsbDevice | None = None,
        libvirt_message: str = "",
        code: int = 0,
    ) -> None:
        self.kind = kind
        self.guest = guest
        self.device = device
        self.libvirt_message = libvirt_message
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class HostdevResult:
    action: str  # "attach" | "detach"
    guest: str
    device: UsbDevice
    live: bool  # AFFECT_LIVE was applied
    config: bool  # AFFECT_CONFIG was applied
    calls: tuple[tuple[str, int], ...] = ()  # (xml, flags) as sent, in order
    note: str = ""  # why a requested part was skipped ("already in the saved config", …)
    config_error: str = ""  # LIVE worked but the CONFIG part failed

    @property
    def changed(self) -> bool:
        return self.live or self.config


def _describe(dev: UsbDevice | None) -> str:
    if dev is None:
        return "the USB device"
    return f"{dev.label} ({dev.ids} at bus {dev.busnum} device {dev.devnum})"


def explain(
    exc: libvirt.libvirtError, action: str, guest: str, dev: UsbDevice | None
) -> HostdevError:
    """Turn a libvirtError into a HostdevError with a sentence a user can act on."""
    text = exc.get_error_message() or str(exc)
    code = exc.get_error_code() or 0
    low = text.lower()
    what = _describe(dev)
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


# -- the domain we act on ------------------------------------------------------------------------
class DomainLike(Protocol):  # the slice of virDomain we use (fakes implement it in tests)
    def name(self) -> str: ...
    def isActive(self) -> int: ...
    def isPersistent(self) -> int: ...
    def XMLDesc(self, flags: int = 0) -> str: ...
    def attachDeviceFlags(self, xml: str, flags: int = 0) -> int: ...
    def detachDeviceFlags(self, xml: str, flags: int = 0) -> int: ...


def resolve_domain(target: Any, guest: str | None, action: str = "attach") -> DomainLike:
    """``target`` is a domain, or a connection plus ``guest`` (a name or UUID string)."""
    if hasattr(target, "attachDeviceFlags"):
        return target
    if not guest:
        raise HostdevError("invalid", "A connection was given without a guest name")
    try:
        try:
            return target.lookupByName(guest)
        except libvirt.libvirtError:
            if len(guest) == 36 and guest.count("-") == 4:
                return target.lookupByUUIDString(guest)
            raise
    except libvirt.libvirtError as exc:
        raise explain(exc, action, guest, None) from exc


def _hostdevs(dom: DomainLike, flags: int) -> tuple[UsbHostdev, ...]:
    return parse_domain(dom.XMLDesc(flags)).usb_hostdevs


@dataclass(frozen=True)
class Plan:
    live: bool
    config: bool
    note: str = ""


def plan_attach(
    *, active: bool, persistent: bool, live: bool, config: bool, config_holds: bool
) -> Plan:
    """Which AFFECT flags an attach uses (pure; see the module docstring for the table)."""
    if not active:
        if not persistent:
            return Plan(False, False, "the guest is not running and has no saved config")
        if config_holds:
            return Plan(False, False, "already in the guest's saved config")
        return Plan(False, True, "guest is shut off: saved to its config (startupPolicy optional)")
    notes = []
    do_config = config
    if config and not persistent:
        do_config = False
        notes.append("transient guest: attached live only, nothing saved")
    elif config and config_holds:
        do_config = False
        notes.append("already in the guest's saved config: attached live only")
    return Plan(live, do_config, "; ".join(notes))


def attach(
    target: Any,
    dev: UsbDevice,
    *,
    live: bool = True,
    config: bool = False,
    guest: str | None = None,
    present: Sequence[UsbDevice] = (),
) -> HostdevResult:
    """Attach ``dev`` to a guest, choosing AFFECT flags from its state (see :func:`plan_attach`).

    ``target`` is a virDomain, or a virConnect with ``guest``. ``config=True`` asks to keep the
    device in the saved config too. ``present`` is the host's current device list (to detect an
    identical twin, which forces the address into the saved entry).
    Raises :class:`HostdevError`.
    """
    dom = resolve_domain(target, guest)
    name = guest or _safe_name(dom)
    try:
        active = bool(dom.isActive())
        persistent = bool(dom.isPersistent())
        twin = has_twin(dev, present)
        config_entry = _as_entry(dev, with_address=twin)
        saved = _hostdevs(dom, XML_INACTIVE) if persistent else ()
        holds = any(libvirt_would_match(config_entry, e) for e in saved)
        plan = plan_attach(
            active=active, persistent=persistent, live=live, config=config, config_holds=holds
        )
        if not plan.live and not plan.config:
            if active or holds:
                return HostdevResult("attach", name, dev, False, False, (), plan.note)
            raise HostdevError(
                "guest-stopped",
                f"Cannot attach {_describe(dev)} to guest '{name}': {plan.note}",
                guest=name,
                device=dev,
            )
        calls: list[tuple[str, int]] = []
        config_error = ""
        config_xml = hostdev_xml(dev, with_address=twin, startup_optional=True)
        if plan.live:
            xml = hostdev_xml(dev, with_address=True, startup_optional=False)
            dom.attachDeviceFlags(xml, AFFECT_LIVE)
            calls.append((xml, AFFECT_LIVE))
            if plan.config:
                try:
                    dom.attachDeviceFlags(config_xml, AFFECT_CONFIG)
                    calls.append((config_xml, AFFECT_CONFIG))
                except libvirt.libvirtError as exc:
                    config_error = str(explain(exc, "attach", name, dev))
        else:
            dom.attachDeviceFlags(config_xml, AFFECT_CONFIG)
            calls.append((config_xml, AFFECT_CONFIG))
    except libvirt.libvirtError as exc:
        raise explain(exc, "attach", name, dev) from exc
    did_config = any(f == AFFECT_CONFIG for _x, f in calls)
    return HostdevResult(
        "attach", name, dev, plan.live, did_config, tuple(calls), plan.note, config_error
    )


def detach(
    target: Any,
    dev: UsbDevice,
    *,
    live: bool = True,
    config: bool = False,
    guest: str | None = None,
) -> HostdevResult:
    """Detach ``dev`` from a guest: LIVE when it runs and ``live``; CONFIG when ``config`` (or
    the guest is shut off) and the saved config holds it. Each entry is removed with the XML the
    domain itself holds, so libvirt's matcher finds it. Raises :class:`HostdevError`
    (``not-attached`` when the guest holds nothing that matches)."""
    dom = resolve_domain(target, guest, "detach")
    name = guest or _safe_name(dom)
    calls: list[tuple[str, int]] = []
    try:
        active = bool(dom.isActive())
        persistent = bool(dom.isPersistent())
        if active and live:
            for entry in _hostdevs(dom, 0):
                if entry_matches_device(entry, dev):
                    xml = hostdev_xml_from(entry)
                    dom.detachDeviceFlags(xml, AFFECT_LIVE)
                    calls.append((xml, AFFECT_LIVE))
                    break
        if persistent and (config or not active):
            for entry in _hostdevs(dom, XML_INACTIVE):
                if entry_matches_device(entry, dev):
                    xml = hostdev_xml_from(entry)
                    dom.detachDeviceFlags(xml, AFFECT_CONFIG)
                    calls.append((xml, AFFECT_CONFIG))
                    break
    except libvirt.libvirtError as exc:
        raise explain(exc, "detach", name, dev) from exc
    if not calls:
        raise HostdevError(
            "not-attached",
            f"Cannot detach {_describe(dev)} from guest '{name}': the guest does not hold it",
            guest=name,
            device=dev,
        )
    flags = [f for _x, f in calls]
    return HostdevResult(
        "detach", name, dev, AFFECT_LIVE in flags, AFFECT_CONFIG in flags, tuple(calls)
    )


def remove_stale(conn: Any, dev: UsbDevice, owners: UsbOwners | None = None) -> list[HostdevResult]:
    """After ``dev`` was unplugged: drop the dead live hostdev from every running guest that
    still lists it (QEMU keeps a disconnected usb-host device otherwise, and a replug gets a new
    devnum, so it never comes back). Saved configs are left alone. "Not found" counts as done."""
    owners = owners if owners is not None else usb_owners(conn)
    done: list[HostdevResult] = []
    for owner in owners.entries:
        if not owner.live or not _has_address(owner.hostdev):
            continue
        if not entry_matches_device(owner.hostdev, dev):
            continue
        try:
            done.append(detach(conn, dev, live=True, config=False, guest=owner.guest))
        except HostdevError as exc:
            if exc.kind in ("not-attached", "guest-gone", "guest-stopped"):
                continue
            raise
    return done


def execute(
    conn: Any, request: AttachRequest | DetachRequest, present: Sequence[UsbDevice] = ()
) -> HostdevResult | None:
    """Apply one rule-engine request (blocking: run it in a worker thread).

    Attach: LIVE, plus CONFIG for a persistent rule. Detach (after unplug): LIVE only, and a
    guest that no longer holds the device (or is gone) counts as done (returns None).
    Raises :class:`HostdevError`; feed ``str(exc)`` to ``RuleEngine.on_result``.
    """
    if isinstance(request, AttachRequest):
        return attach(
            conn,
            request.device,
            live=True,
            config=request.persistent,
            guest=request.guest,
            present=present,
        )
    try:
        return detach(conn, request.device, live=True, config=False, guest=request.guest)
    except HostdevError as exc:
        if exc.kind in ("not-attached", "guest-gone", "guest-stopped"):
            return None
        raise


def _safe_name(dom: DomainLike) -> str:
    try:
        return dom.name()
    except libvirt.libvirtError:
        return "?"


# -- ownership ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class UsbOwner:
    guest: str
    uuid: str
    hostdev: UsbHostdev
    live: bool  # in the running guest's live XML
    config: bool  # in the saved (inactive) config


@dataclass
class UsbOwners:
    """Who holds which USB device, from every guest's live and saved XML.

    ``by_address``/``by_ids`` are the shapes the USB table takes (``set_owners``): entries with
    an address are keyed by (bus, device), the others by (vendor, product). A live holder wins
    over a config-only one.
    """

    entries: list[UsbOwner] = field(default_factory=list)
    by_address: dict[tuple[int, int], str] = field(default_factory=dict)
    by_ids: dict[tuple[int, int], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def owners_of(self, dev: UsbDevice) -> list[UsbOwner]:
        return [o for o in self.entries if entry_matches_device(o.hostdev, dev)]

    def live_owner(self, dev: UsbDevice) -> str | None:
        for o in self.owners_of(dev):
            if o.live:
                return o.guest
        return None

    def live_map(self, devices: Iterable[UsbDevice]) -> dict[str, str]:
        """{device key: guest} for devices a running guest holds (the rule engine's input)."""
        out = {}
        for d in devices:
            guest = self.live_owner(d)
            if guest:
                out[d.key] = guest
        return out


def _entry_key(h: UsbHostdev) -> tuple[int, int]:
    return (h.bus or 0, h.device or 0) if _has_address(h) else (h.vendor or 0, h.product or 0)


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
    for o in sorted(result.entries, key=lambda o: not o.live):  # live holders first
        table = result.by_address if _has_address(o.hostdev) else result.by_ids
        table.setdefault(_entry_key(o.hostdev), o.guest)
    return result
