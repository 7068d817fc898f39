"""libvirt networks (``tui.core.ports.NetworkOps``): list (inactive ones too: libvirt's
``default`` is often defined but not running), DHCP leases with the guest each belongs to,
start, stop, autostart, and a new isolated network (no ``<forward>``: nothing leaves the host).

Only libvirt's own APIs, so it works on ``qemu+ssh://`` hosts. Every method blocks: call it
from a daemon thread. Errors are :class:`BackendError` naming the network and the fix.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import libvirt

from tui.adapters.libvirt import named
from tui.adapters.libvirt.held import Held, Using, counted
from tui.adapters.libvirt.named import msg as _msg
from tui.model.backend import BackendError
from tui.model.network import (
    DhcpRange,
    IsolatedPlan,
    Lease,
    Network,
    match_leases,
    plan_isolated,
)

NETWORK = named.Kind("network", "network", "networks")


def parse_network(xml: str, active: bool, autostart: bool, persistent: bool) -> Network:
    root = ET.fromstring(xml)
    bridge = root.find("bridge")
    forward = root.find("forward")
    addresses: list[str] = []
    dhcp: list[DhcpRange] = []
    for ip in root.findall("ip"):
        addr = ip.get("address", "")
        prefix = ip.get("prefix")
        if prefix is None and ip.get("netmask"):
            try:
                prefix = str(ipaddress.IPv4Network(f"0.0.0.0/{ip.get('netmask')}").prefixlen)
            except ValueError:
                prefix = None
        if addr:
            addresses.append(f"{addr}/{prefix}" if prefix else addr)
        for r in ip.findall("dhcp/range"):
            dhcp.append(DhcpRange(r.get("start", ""), r.get("end", "")))
    return Network(
        name=root.findtext("name", ""),
        uuid=root.findtext("uuid", ""),
        active=active,
        autostart=autostart,
        persistent=persistent,
        bridge=bridge.get("name", "") if bridge is not None else "",
        forward=forward.get("mode", "nat") if forward is not None else "isolated",
        addresses=tuple(addresses),
        dhcp=tuple(dhcp),
    )


def interface_macs(name: str, xml: str) -> dict[str, str]:
    """MAC (lower case) -> guest name for each interface in a domain XML."""
    root = ET.fromstring(xml)
    out = {}
    for mac in root.findall("devices/interface/mac"):
        address = mac.get("address")
        if address:
            out[address.lower()] = name
    return out


def parse_leases(network: str, raw: list[dict[str, object]]) -> list[Lease]:
    """libvirt's ``DHCPLeases()`` dicts -> leases (no guest yet)."""
    out = []
    for d in raw:
        ip = str(d.get("ipaddr") or "")
        prefix = d.get("prefix")
        out.append(
            Lease(
                network=network,
                mac=str(d.get("mac") or "").lower(),
                ip=f"{ip}/{prefix}" if ip and prefix is not None else ip,
                hostname=str(d.get("hostname") or ""),
                expiry=int(d.get("expirytime") or 0),  # type: ignore[call-overload]
            )
        )
    return out


def isolated_xml(plan: IsolatedPlan, bridge: str = "") -> str:
    dhcp = ""
    if plan.dhcp_start:
        dhcp = f"<dhcp><range start='{plan.dhcp_start}' end='{plan.dhcp_end}'/></dhcp>"
    br = f"<bridge name='{escape(bridge)}'/>" if bridge else ""
    return (
        f"<network><name>{escape(plan.name)}</name>{br}"
        f"<ip address='{plan.address}' netmask='{plan.netmask}'>{dhcp}</ip></network>"
    )


class LibvirtNetworks:
    """NetworkOps over one host's connection: each public method holds it through ``using``
    (BackendError when the host is down or closing) for its whole duration (held.py)."""

    def __init__(self, using: Using) -> None:
        self._held = Held(using)
        self._conn = self._held.conn

    @counted
    def networks(self) -> tuple[Network, ...]:
        conn = self._conn()

        def read(n: libvirt.virNetwork) -> Network:
            xml, active, auto = n.XMLDesc(0), bool(n.isActive()), bool(n.autostart())
            return parse_network(xml, active, auto, bool(n.isPersistent()))

        return named.listed(NETWORK, lambda: conn.listAllNetworks(0), read)

    def _net(self, conn: libvirt.virConnect, name: str) -> libvirt.virNetwork:
        return named.lookup(NETWORK, conn.networkLookupByName, name)

    def guest_macs(self, conn: libvirt.virConnect) -> dict[str, str]:
        macs: dict[str, str] = {}
        for dom in conn.listAllDomains(0):
            try:
                macs.update(interface_macs(dom.name(), dom.XMLDesc(0)))
            except libvirt.libvirtError:
                continue
        return macs

    @counted
    def leases(self, network: str) -> tuple[Lease, ...]:
        """The leases of a running network (none when it is stopped), each with its guest."""
        conn = self._conn()
        net = self._net(conn, network)
        try:
            if not net.isActive():
                return ()
            return self._leases(conn, net, network)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                return ()  # the test driver keeps no leases
            raise BackendError(f"cannot read the leases of {network}: {_msg(exc)}") from exc

    def _leases(
        self, conn: libvirt.virConnect, net: libvirt.virNetwork, network: str
    ) -> tuple[Lease, ...]:
        """The leases of ``net``, which runs: libvirt's (a libvirtError says why not)."""
        raw = net.DHCPLeases(None, 0)
        macs = self.guest_macs(conn)
        return match_leases(parse_leases(network, raw), macs)

    @counted
    def start(self, name: str) -> str:
        return named.start(NETWORK, self._net(self._conn(), name), name)

    @counted
    def stop(self, name: str) -> str:
        return named.stop(NETWORK, self._net(self._conn(), name), name)

    @counted
    def set_autostart(self, name: str, on: bool) -> str:
        return named.set_autostart(NETWORK, self._net(self._conn(), name), name, on)

    @counted
    def create_isolated(self, name: str, cidr: str, dhcp: bool = True) -> str:
        """Define and start an isolated network; a start that fails undefines it again."""
        conn = self._conn()
        taken = named.free_name(
            NETWORK, lambda: conn.listNetworks() + conn.listDefinedNetworks(), name
        )
        try:
            plan = plan_isolated(name, cidr, dhcp)
        except ValueError as exc:
            raise BackendError(f"network {name}: {exc}") from exc
        bridge = ""
        try:
            if conn.getType().lower() == "test":  # the test driver names no bridge itself
                bridge = f"virbr{len(taken) + 10}"
            net = conn.networkDefineXML(isolated_xml(plan, bridge))
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot define network {name}: {_msg(exc)}") from exc
        try:
            net.create()
        except libvirt.libvirtError as exc:
            try:
                net.undefine()
                undone = "it was removed again"
            except libvirt.libvirtError as inner:
                undone = f"removing it failed too: {_msg(inner)}"
            raise BackendError(f"cannot start network {name}: {_msg(exc)}; {undone}") from exc
        where = f"{plan.address}/{plan.prefix}"
        lease = f", DHCP {plan.dhcp_start}-{plan.dhcp_end}" if plan.dhcp_start else ", no DHCP"
        return f"isolated network {name} created and started ({where}{lease})"
