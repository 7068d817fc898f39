"""The detail screen's box of a guest's IP addresses: every address with where it came from
(the guest agent, a libvirt network's DHCP lease, or the host's ARP table). Plain text."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from tui.model.addresses import GuestAddress
from tui.util import terminal_safe

SOURCE_TEXT = {"agent": "guest agent", "lease": "DHCP lease", "arp": "ARP"}
NONE_RUNNING = "none known: the guest agent, DHCP leases and ARP have none (asked every 10 s)"
NOT_RUNNING = "the guest is not running"


def address_lines(addresses: Sequence[GuestAddress], active: bool = True) -> Text:
    if not active:
        return Text(NOT_RUNNING, style="dim")
    if not addresses:
        return Text(NONE_RUNNING, style="dim")
    out = Text()
    for i, a in enumerate(addresses):
        if i:
            out.append("\n")
        out.append(f"{terminal_safe(a.cidr):<22}", style="bold")  # from the guest agent
        out.append(terminal_safe(f" {a.iface} {a.mac}".rstrip()))
        out.append(f"  from {a.source} ({SOURCE_TEXT.get(a.source, a.source)})", style="dim")
    return out


class AddressesBox(Static):
    DEFAULT_CSS = """
    AddressesBox { height: auto; border: round $panel; padding: 0 1; }
    """

    _shown_text: Text | None = None  # what is shown

    def on_mount(self) -> None:
        self.border_title = "IP addresses"

    def show(self, addresses: Sequence[GuestAddress], active: bool) -> None:
        text = address_lines(addresses, active)
        if text != self._shown_text:
            self._shown_text = text
            self.update(text)
