"""--demo only: the test driver keeps no DHCP leases, so the demo's networks lease each
``<dhcp><host>`` entry of a running network (MAC, IP, name) for an hour from the first time
they are read. Everything else is the test driver's own (``LibvirtNetworks``)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import libvirt

from tui.adapters.libvirt.networks import LibvirtNetworks, interface_macs
from tui.model.network import Lease, match_leases

LEASE_S = 3600


class DemoNetworks(LibvirtNetworks):
    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self._since: dict[str, float] = {}

    def _leases(
        self, conn: libvirt.virConnect, net: libvirt.virNetwork, network: str
    ) -> tuple[Lease, ...]:
        root = ET.fromstring(net.XMLDesc(0))
        macs: dict[str, str] = {}
        off: set[str] = set()  # a shut-off guest holds no lease
        for dom in conn.listAllDomains(0):
            found = interface_macs(dom.name(), dom.XMLDesc(0))
            macs.update(found)
            if not dom.isActive():
                off |= set(found)
        since = self._since.setdefault(network, time.time())
        out = []
        for ip in root.findall("ip"):
            prefix = ip.get("prefix") or "24"
            for host in ip.findall("dhcp/host"):
                mac = (host.get("mac") or "").lower()
                if mac in off:
                    continue
                out.append(
                    Lease(
                        network,
                        mac,
                        f"{host.get('ip', '')}/{prefix}",
                        host.get("name", ""),
                        int(since) + LEASE_S,
                    )
                )
        return match_leases(out, macs)
