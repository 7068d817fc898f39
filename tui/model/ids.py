"""Identities as values: a host is its URI as the user gave it, a guest is (host, UUID).

Nothing here talks to the outside world. Widgets need string row keys; :meth:`GuestKey.row`
gives one and :meth:`GuestKey.parse_row` reads it back, so no code splits strings by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

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

    @property
    def short(self) -> str:
        """The URI as a label: see :func:`short_uri`."""
        return short_uri(self.uri)


def short_uri(uri: str | None) -> str:
    """A host's label when the config names none: ``user@host[:port]`` for a remote host,
    the driver and path for a local one (``qemu:///system``), the file's stem for a test-driver
    node file (``test:host07``). Never the query (``?keyfile=…``) or a key path."""
    if not uri:
        return "libvirt default"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri.split("?", 1)[0]
    driver = parts.scheme.split("+", 1)[0] or uri.split(":", 1)[0]
    if driver == "test":
        stem = parts.path.rsplit("/", 1)[-1]
        stem = stem[:-4] if stem.endswith(".xml") else stem
        return f"test:{stem or 'default'}"
    host = parts.hostname
    if host:
        try:
            port = parts.port
        except ValueError:
            port = None
        where = f"[{host}]" if ":" in host else host
        where = f"{parts.username}@{where}" if parts.username else where
        where = f"{where}:{port}" if port else where
        local = host in ("localhost", "127.0.0.1", "::1") and "+ssh" not in parts.scheme
        return f"{driver}:{where}" if local or "+" not in parts.scheme else where
    return f"{parts.scheme}://{parts.path}" if parts.path else f"{parts.scheme}://"


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
