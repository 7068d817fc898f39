"""usbredir filter strings for the viewer: which of the operator's USB devices go to the guest.

A filter is rules ``class,vendor,product,version,allow`` joined by ``|``; the first rule that
matches a device decides, and ``-1`` matches anything (spice-gtk / usbredir syntax, the same in
a ``.vv`` file's ``usb-filter`` and in remote-viewer's ``--spice-usbredir-*`` options).

- :func:`auto_filter` (``.vv`` ``usb-filter`` with ``enable-usb-autoshare=1``, and
  ``--spice-usbredir-auto-redirect-filter``): devices plugged in while the viewer is connected.
  The devices named for this guest first, then no HID (class 0x03: never take the operator's
  keyboard or mouse away), then everything else (``-1,-1,-1,-1,1``).
- :func:`connect_filter` (``--spice-usbredir-redirect-on-connect``): devices already plugged in
  when the viewer connects. Only the devices named for this guest, then nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

ALLOW_ALL = "-1,-1,-1,-1,1"
DENY_ALL = "-1,-1,-1,-1,0"
NO_HID = "0x03,-1,-1,-1,0"


def _device_rules(devices: Iterable[tuple[int, int]]) -> list[str]:
    seen = dict.fromkeys((v & 0xFFFF, p & 0xFFFF) for v, p in devices)
    return [f"-1,0x{v:04x},0x{p:04x},-1,1" for v, p in seen]


def auto_filter(devices: Iterable[tuple[int, int]] = ()) -> str:
    """Auto-redirect filter: the named ``(vendor, product)`` devices, no HID, then any device."""
    return "|".join([*_device_rules(devices), NO_HID, ALLOW_ALL])


def connect_filter(devices: Iterable[tuple[int, int]]) -> str | None:
    """Redirect-on-connect filter for the named devices only; None when none is named."""
    rules = _device_rules(devices)
    return "|".join([*rules, DENY_ALL]) if rules else None


def viewer_options(devices: Iterable[tuple[int, int]] = ()) -> list[str]:
    """remote-viewer / virt-viewer options carrying the same filters (SPICE only)."""
    devices = list(devices)
    opts = [f"--spice-usbredir-auto-redirect-filter={auto_filter(devices)}"]
    on_connect = connect_filter(devices)
    if on_connect is not None:
        opts.append(f"--spice-usbredir-redirect-on-connect={on_connect}")
    return opts
