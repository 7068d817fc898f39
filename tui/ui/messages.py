"""Messages: the dataclasses from the sources, wrapped for Textual's message pump."""

from __future__ import annotations

from textual.message import Message

from tui.adapters.libvirt.connection import LinkReport
from tui.adapters.libvirt.events import DeviceEvent, LifecycleEvent
from tui.adapters.libvirt.session import PollResult
from tui.adapters.local.hoststats import HostSample


class HostStats(Message):
    def __init__(self, sample: HostSample) -> None:
        super().__init__()
        self.sample = sample


class GuestStats(Message):
    def __init__(self, host: int, result: PollResult) -> None:
        super().__init__()
        self.host = host
        self.result = result


class PollFailed(Message):
    def __init__(self, host: int, error: str) -> None:
        super().__init__()
        self.host = host
        self.error = error


class LinkChanged(Message):
    def __init__(self, host: int, report: LinkReport) -> None:
        super().__init__()
        self.host = host
        self.report = report


class HostConnected(Message):
    def __init__(self, host: int) -> None:
        super().__init__()
        self.host = host


class Lifecycle(Message):
    def __init__(self, host: int, event: LifecycleEvent) -> None:
        super().__init__()
        self.host = host
        self.event = event


class GuestDevice(Message):
    def __init__(self, host: int, event: DeviceEvent) -> None:
        super().__init__()
        self.host = host
        self.event = event


class ActionResult(Message):
    def __init__(self, text: str, ok: bool = True) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class ConsoleResult(Message):
    """The outcome of opening a guest's console: a viewer, client instructions, or an error."""

    def __init__(self, guest: str, result: object = None, error: str = "") -> None:
        super().__init__()
        self.guest = guest
        self.result = result
        self.error = error


class ViewerChanged(Message):
    def __init__(self, info: object) -> None:
        super().__init__()
        self.info = info
