"""The one call the app makes: :func:`open_console`, and its result :class:`ViewerOpened`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

import libvirt

from tui.adapters.launch.instructions import client_instructions
from tui.adapters.launch.viewers import Launcher
from tui.adapters.libvirt.graphics import resolve_display
from tui.model.viewers import ClientInstructions, ViewerOpened


def open_console(
    conn: libvirt.virConnect,
    dom_name: str,
    uri: str | None,
    readonly: bool,
    launcher: Launcher,
    wait_s: float = 10.0,
    usb_redirect: Iterable[tuple[int, int]] = (),
) -> ViewerOpened | ClientInstructions:
    """Open guest ``dom_name``'s console (blocking: call it from a thread worker).

    With a display: starts remote-viewer and waits up to ``wait_s`` for it to connect or fail.
    Without one: returns the commands to run on the operator's workstation.
    ``usb_redirect``: (vendor, product) of the operator's USB devices to redirect to the guest
    (SPICE): in the ``.vv`` and the viewer's options, or in the commands shown.
    Raises :class:`DisplayError` (guest not running, no graphics, no port yet) or
    :class:`LaunchError` (remote-viewer or ssh missing, tunnel failed).
    """
    start = time.monotonic()
    target = resolve_display(conn, dom_name, readonly)
    if usb_redirect:
        target = dataclasses.replace(target, usb_redirect=tuple(usb_redirect))
    if not launcher.has_display():
        return client_instructions(target, uri, launcher.env)
    info = launcher.open_viewer(target, uri)
    info = launcher.wait(info, wait_s)
    return ViewerOpened(info, time.monotonic() - start)
