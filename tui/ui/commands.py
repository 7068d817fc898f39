"""Command palette provider: guest actions and jumping to a guest by name."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.ui.app import KvmDeckApp

ACTIONS = [
    ("Start selected guest", "guest('start')"),
    ("Shut down selected guest (ACPI)", "guest('shutdown')"),
    ("Reboot selected guest", "guest('reboot')"),
    ("Pause or resume selected guest", "guest('pause')"),
    ("Force off selected guest (asks first)", "guest('destroy')"),
    ("Open SPICE console of selected guest (remote-viewer)", "console"),
    ("Open viewers list", "viewers"),
    ("USB devices: attach, detach, rules", "usb"),
    ("Guest detail", "detail"),
    ("Filter guests by name", "filter"),
    ("Sort by CPU", "sort('cpu')"),
    ("Sort by memory", "sort('mem')"),
    ("Sort by name", "sort('name')"),
    ("Sort by disk", "sort('disk')"),
    ("Sort by network", "sort('net')"),
    ("Virtualization doctor (KVM, IOMMU, USB checks)", "doctor"),
    ("Help: keys", "help"),
]


class GuestCommands(Provider):
    @property
    def deck(self) -> KvmDeckApp:
        return self.app  # type: ignore[return-value]

    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.deck
        out: list[tuple[str, object, str]] = [
            (title, partial(app.run_action, action), f"action {action}")
            for title, action in ACTIONS
        ]
        for key, sample in sorted(app.table.samples.items(), key=lambda kv: kv[1].name):
            out.append((f"Go to guest {sample.name}", partial(app.select_guest, key), sample.state))
        return out

    async def discover(self) -> Hits:
        for title, cb, help_text in self._commands():
            yield DiscoveryHit(title, cb, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, cb, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)  # type: ignore[arg-type]
