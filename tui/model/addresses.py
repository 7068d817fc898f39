"""A guest's IP addresses, as libvirt's ``interfaceAddresses`` reports them (pure values).

The adapter asks the guest agent first, then the DHCP leases of libvirt networks, then the
host's ARP table, and keeps the first source that answers; every address carries that source.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SOURCES = ("agent", "lease", "arp")  # in the order they are asked


@dataclass(frozen=True)
class GuestAddress:
    iface: str  # the guest's name for the interface (agent: "eth0"), else libvirt's ("vnet3")
    mac: str
    addr: str
    prefix: int | None
    source: str  # one of SOURCES

    @property
    def family(self) -> int:
        return 6 if ":" in self.addr else 4

    @property
    def cidr(self) -> str:
        return self.addr if self.prefix is None else f"{self.addr}/{self.prefix}"


# uuid -> the addresses of that guest (empty: none known); what one address run returns
AddressMap = dict[str, list[GuestAddress]]


def _rank(a: GuestAddress) -> tuple[int, int]:
    """IPv4 before IPv6; link-local last."""
    try:
        ip = ipaddress.ip_address(a.addr)
        local = ip.is_link_local
    except ValueError:
        local = False
    return (1 if local else 0, a.family)


def useful(addresses: Iterable[GuestAddress]) -> list[GuestAddress]:
    """Without loopback (the agent reports ``lo``'s 127.0.0.1 and ::1)."""
    out = []
    for a in addresses:
        try:
            if ipaddress.ip_address(a.addr).is_loopback:
                continue
        except ValueError:
            pass
        out.append(a)
    return out


def primary(addresses: Sequence[GuestAddress]) -> GuestAddress | None:
    """The address a table column shows: the first IPv4, else the first global IPv6."""
    ranked = sorted(useful(addresses), key=_rank)
    return ranked[0] if ranked else None


def summary(addresses: Sequence[GuestAddress]) -> str:
    """``10.0.2.15`` or ``10.0.2.15 +2``: the primary address and how many more there are."""
    first = primary(addresses)
    if first is None:
        return ""
    more = len(useful(addresses)) - 1
    return first.addr if more <= 0 else f"{first.addr} +{more}"
