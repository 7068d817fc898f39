"""Attach, detach, move: which AFFECT flags and which entries, executed through a HostdevPort.

No libvirt here: the port (:class:`tui.adapters.libvirt.hostdev.LibvirtHostdev`) makes the calls
and writes the XML; this module decides. Every function blocks (the port does): call it from a
worker thread.

Flag rule (:func:`plan_attach`): running guest → LIVE, plus CONFIG when the caller asks to keep
it and the guest is persistent and its saved config does not already hold the device (libvirt
refuses "device is already in the domain configuration"); shut-off guest → CONFIG only.
The saved entry names the device by vendor:product only, unless an identical twin is plugged in
(then vendor:product would be ambiguous and the address goes in too, as virt-manager does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.core.usb.ports import HostdevPort
from tui.core.usb.requests import AttachRequest, DetachRequest
from tui.model.usb import (
    HostdevError,
    HostdevResult,
    UsbDevice,
    UsbOwners,
    as_entry,
    describe_device,
    entry_matches_device,
    has_address,
    has_twin,
    libvirt_would_match,
)

DONE_KINDS = ("not-attached", "guest-gone", "guest-stopped")  # a detach that has nothing to do


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
    port: HostdevPort,
    dev: UsbDevice,
    guest: str,
    *,
    live: bool = True,
    persistent: bool = False,
    present: Sequence[UsbDevice] = (),
) -> HostdevResult:
    """Attach ``dev`` to ``guest`` with the flags :func:`plan_attach` picks. ``persistent`` asks
    to keep it in the saved config too; ``present`` (the host's devices) reveals a twin.
    Raises :class:`HostdevError`."""
    facts = port.inspect(guest)
    twin = has_twin(dev, present)
    holds = any(libvirt_would_match(as_entry(dev, twin), e) for e in facts.saved)
    plan = plan_attach(
        active=facts.active,
        persistent=facts.persistent,
        live=live,
        config=persistent,
        config_holds=holds,
    )
    if not plan.live and not plan.config:
        if facts.active or holds:
            return HostdevResult("attach", guest, dev, False, False, (), plan.note)
        raise HostdevError(
            "guest-stopped",
            f"Cannot attach {describe_device(dev)} to guest '{guest}': {plan.note}",
            guest=guest,
            device=dev,
        )
    return port.apply_attach(
        guest, dev, live=plan.live, config=plan.config, config_address=twin, note=plan.note
    )


def detach(
    port: HostdevPort, dev: UsbDevice, guest: str, *, live: bool = True, config: bool = False
) -> HostdevResult:
    """Detach ``dev`` from ``guest``: LIVE when it runs and ``live``; CONFIG when ``config`` (or
    the guest is shut off) and the saved config holds it. Raises :class:`HostdevError`
    (``not-attached`` when the guest holds nothing that matches)."""
    facts = port.inspect(guest)
    live_entry = None
    if facts.active and live:
        live_entry = next((e for e in facts.live if entry_matches_device(e, dev)), None)
    config_entry = None
    if facts.persistent and (config or not facts.active):
        config_entry = next((e for e in facts.saved if entry_matches_device(e, dev)), None)
    if live_entry is None and config_entry is None:
        raise HostdevError(
            "not-attached",
            f"Cannot detach {describe_device(dev)} from guest '{guest}': the guest does not hold it",
            guest=guest,
            device=dev,
        )
    return port.apply_detach(guest, dev, live_entry=live_entry, config_entry=config_entry)


def remove_stale(port: HostdevPort, dev: UsbDevice, owners: UsbOwners) -> list[HostdevResult]:
    """After ``dev`` was unplugged: drop the dead live hostdev from every running guest that
    still lists it (libvirt keeps it otherwise). Saved configs are left alone."""
    done: list[HostdevResult] = []
    for owner in owners.entries:
        if not owner.live or not has_address(owner.hostdev):
            continue
        if not entry_matches_device(owner.hostdev, dev):
            continue
        try:
            done.append(detach(port, dev, owner.guest, live=True, config=False))
        except HostdevError as exc:
            if exc.kind not in DONE_KINDS:
                raise
    return done


def move(
    port: HostdevPort,
    dev: UsbDevice,
    owner: str,
    guest: str,
    *,
    persistent: bool = False,
    present: Sequence[UsbDevice] = (),
) -> HostdevResult:
    """Detach ``dev`` (live) from ``owner``, then attach it to ``guest``."""
    try:
        detach(port, dev, owner, live=True, config=False)
    except HostdevError as exc:
        if exc.kind not in DONE_KINDS:
            raise
    return attach(port, dev, guest, persistent=persistent, present=present)


def execute(
    port: HostdevPort, request: AttachRequest | DetachRequest, present: Sequence[UsbDevice] = ()
) -> HostdevResult | None:
    """Apply one rule-engine request. Attach: LIVE, plus CONFIG for a persistent rule. Detach
    (after unplug): LIVE only; a guest that no longer holds the device (or is gone) counts as
    done (None). Raises :class:`HostdevError`."""
    if isinstance(request, AttachRequest):
        return attach(
            port, request.device, request.guest, persistent=request.persistent, present=present
        )
    try:
        return detach(port, request.device, request.guest, live=True, config=False)
    except HostdevError as exc:
        if exc.kind in DONE_KINDS:
            return None
        raise


__all__ = ["Plan", "attach", "detach", "execute", "move", "plan_attach", "remove_stale"]
