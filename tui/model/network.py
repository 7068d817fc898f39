"""libvirt networks, their DHCP leases and the guests they belong to: plain values (issue 21:
the networks screen and the create form's network choice).

Names, MACs and host names come from the host: the UI shows them as plain text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DhcpRange:
    start: str
    end: str

    def describe(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class Network:
    name: str
    uuid: str
    active: bool
    autostart: bool
    persistent: bool
    bridge: str  # "" when libvirt has none (a macvtap or hostdev network)
    forward: str  # nat, route, open, bridge, ... ; "isolated" when the XML has no <forward>
    addresses: tuple[str, ...] = ()  # 192.168.122.1/24
    dhcp: tuple[DhcpRange, ...] = ()

    def dhcp_text(self) -> str:
        return ", ".join(r.describe() for r in self.dhcp) or "none"

    def dhcp_short(self) -> str:
        """The DHCP ranges without the octets they share with the network's address:
        ``.2-.254`` beside ``192.168.122.1/24``."""
        if not self.dhcp:
            return "none"
        base = self.addresses[0].split("/")[0].split(".")[:3] if self.addresses else []
        out = []
        for r in self.dhcp:
            start, end = r.start.split("."), r.end.split(".")
            if base and len(start) == len(end) == 4 and start[:3] == end[:3] == base:
                out.append(f".{start[3]}-.{end[3]}")
            else:
                out.append(r.describe())
        return ", ".join(out)


@dataclass(frozen=True)
class Lease:
    network: str
    mac: str  # lower case
    ip: str  # 192.168.122.10/24
    hostname: str = ""
    expiry: int = 0  # epoch seconds, 0 when unknown
    guest: str = ""  # the guest whose interface has this MAC ("" when none here)


def match_leases(leases: Iterable[Lease], macs: Mapping[str, str]) -> tuple[Lease, ...]:
    """Each lease with the guest whose interface MAC it is (``macs``: MAC -> guest name; any
    case). A MAC no guest here has keeps ``guest=""``."""
    lower = {mac.lower(): guest for mac, guest in macs.items()}
    return tuple(replace(lease, guest=lower.get(lease.mac.lower(), "")) for lease in leases)


@dataclass(frozen=True)
class IsolatedPlan:
    """An isolated network's addresses: the host's address on it, and a DHCP range."""

    name: str
    address: str  # 10.77.0.1
    netmask: str  # 255.255.255.0
    prefix: int
    dhcp_start: str = ""  # "" without DHCP
    dhcp_end: str = ""


def plan_isolated(name: str, cidr: str, dhcp: bool = True) -> IsolatedPlan:
    """``10.77.0.1/24`` -> the host's address, netmask and a DHCP range of the rest of the
    subnet (from .2, ending before the broadcast address). ValueError names what to fix."""
    try:
        if "/" not in cidr:
            raise ValueError("no prefix")
        iface = ipaddress.IPv4Interface(cidr.strip())
    except ValueError as exc:
        raise ValueError(
            f"{cidr.strip() or 'nothing'!r} is not an IPv4 address with a prefix:"
            " write e.g. 10.77.0.1/24"
        ) from exc
    net = iface.network
    if net.prefixlen > 29:
        raise ValueError(f"/{net.prefixlen} leaves no room for guests: use /24 or wider, e.g. /24")
    if iface.ip in (net.network_address, net.broadcast_address):
        raise ValueError(
            f"{iface.ip} is the network's own address, not a host's: write e.g."
            f" {net.network_address + 1}/{net.prefixlen}"
        )
    start = end = ""
    if dhcp:
        first, last = net.network_address + 1, net.broadcast_address - 1
        # the range skips the host's own address: after it when there is room, else before
        if iface.ip < last:
            first = max(first, iface.ip + 1)
        else:
            last = iface.ip - 1
        start, end = str(first), str(last)
    return IsolatedPlan(name, str(iface.ip), str(net.netmask), net.prefixlen, start, end)
