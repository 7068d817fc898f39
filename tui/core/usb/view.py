"""What the USB screen shows, as one immutable snapshot the coordinator makes.

:class:`tui.core.usb.coordinator.UsbCoordinator` is the only holder of the present devices, the
owners, the rules' states and what the host can do; :meth:`UsbCoordinator.view` freezes them
into a :class:`UsbView`, and the UI renders that (as memray's TUI renders one snapshot per
frame). The screen keeps no copy of its own beyond what it drew: a key acts on the snapshot it
was drawn from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tui.core.usb.requests import RuleStatus
from tui.model.usb import UsbDevice, UsbOwners
from tui.model.usb_doctor import UsbHostStatus

_EMPTY: Mapping[str, UsbDevice] = MappingProxyType({})


@dataclass(frozen=True)
class UsbView:
    """One snapshot of a host's USB.

    ``generation`` changes when the whole device set was replaced (a feed (re)started): a key
    that is new within one generation was plugged in (the table highlights it), a key new with
    a generation was there already. ``owners`` is the coordinator's last owners read: it is
    replaced, never changed, once read. ``rules`` are every rule in file order with its state;
    ``rules_loaded`` is False until rules.toml was read once."""

    version: int = 0
    generation: int = 0
    source: str = ""
    host: UsbHostStatus | None = None
    devices: Mapping[str, UsbDevice] = field(default_factory=lambda: _EMPTY)
    devices_known: bool = False
    owners: UsbOwners = field(default_factory=UsbOwners)
    rules: tuple[RuleStatus, ...] = ()
    rules_loaded: bool = False
    rules_problem: str = ""

    def owner_of(self, dev: UsbDevice) -> str:
        """The guest holding ``dev`` (a live holder first, then the saved config's), or ""."""
        return self.owners.by_address.get(
            (dev.busnum, dev.devnum), self.owners.by_ids.get((dev.vendor_id, dev.product_id), "")
        )


def freeze(devices: Mapping[str, UsbDevice]) -> Mapping[str, UsbDevice]:
    return MappingProxyType(dict(devices))


__all__ = ["UsbView", "freeze"]
