"""What a host backend (an adapter) and the core exchange: its error and its event callbacks.

They live in the model because both sides use them: the core catches ``BackendError`` and the
adapters raise it, without either importing the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.model.events import DeviceEvent, LifecycleEvent

if TYPE_CHECKING:
    from tui.model.link import LinkFailure


class BackendError(Exception):
    """A host call failed. ``lost``: the connection itself is gone, not just this call."""

    def __init__(self, message: str, *, lost: bool = False, failure: LinkFailure | None = None):
        super().__init__(message)
        self.message = message
        self.lost = lost
        self.failure = failure


@dataclass
class HostEvents:
    """Callbacks a backend calls when something happens on its host.

    From any thread: libvirt delivers lifecycle and device events on the event loop
    (libvirtaio), but its close callback in whichever thread notices the loss, often the one
    whose call just failed. The receiver (``HostController``) moves them onto its loop.
    """

    lifecycle: Callable[[LifecycleEvent], None]
    device: Callable[[DeviceEvent], None]
    lost: Callable[[str], None]  # the close callback: the connection dropped (reason)
