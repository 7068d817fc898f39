"""Identities as values: a host is its URI as the user gave it, a guest is (host, UUID).

Nothing here talks to the outside world. Widgets need string row keys; :meth:`GuestKey.row`
gives one and :meth:`GuestKey.parse_row` reads it back, so no code splits strings by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

_SEP = "\x1f"  # unit separator: never in a URI or a UUID


@dataclass(frozen=True, order=True)
class HostId:
    """One watched host. ``uri`` is "" for libvirt's default connection."""

    uri: str

    @classmethod
    def of(cls, uri: str | None) -> HostId:
        return cls(uri or "")

    @property
    def libvirt_uri(self) -> str | None:
        return self.uri or None

    def __str__(self) -> str:
        return self.uri or "libvirt default"


@dataclass(frozen=True, order=True)
class GuestKey:
    host: HostId
    uuid: str

    @property
    def row(self) -> str:
        return f"{self.host.uri}{_SEP}{self.uuid}"

    @classmethod
    def parse_row(cls, row: str) -> GuestKey:
        uri, _, uuid = row.rpartition(_SEP)
        return cls(HostId(uri), uuid)
