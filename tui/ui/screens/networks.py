"""A host's libvirt networks (``L``): active or not (libvirt's ``default`` is often defined
but stopped), autostart, bridge, forward mode, DHCP range, and the DHCP leases of the network
under the cursor with the guest each belongs to (the lease's MAC is one of its interfaces').

Start, stop (asks first), autostart, and a new isolated network (no ``<forward>``: its guests
reach the host and each other, nothing beyond). Through the host's ``networks`` family
(``tui.core.ports.NetworkOps``) on the runner: libvirt's APIs only, ``qemu+ssh://`` too.
"""

from __future__ import annotations

import time

from rich.text import Text

from tui.core.ports import HostCapabilities, NetworkOps
from tui.model.network import Lease, Network, plan_isolated
from tui.model.storage import name_problem
from tui.ui import actions
from tui.ui.screens.hostops import Cell, Field, FormDialog, plain
from tui.ui.screens.resourcelist import ResourceListScreen, Rows

NO_NETWORKS = "No libvirt networks on this host: n makes an isolated one."


def network_cells(n: Network) -> list[Cell]:
    return [
        plain(n.name),
        Text("active", style="green") if n.active else Text("inactive", style="dim"),
        "yes" if n.autostart else "no",
        plain(n.forward),
        plain(n.bridge or "-"),
        plain(", ".join(n.addresses) or "-"),
        plain(n.dhcp_short()),
    ]


def lease_cells(le: Lease, now: float) -> list[Cell]:
    if le.expiry:
        left = le.expiry - now
        expires = f"in {int(left // 60)} min" if left > 0 else "expired"
    else:
        expires = "-"
    guest = plain(le.guest or "-")
    if le.guest:
        guest.stylize("bold")
    ip = le.ip.split("/")[0]
    return [plain(ip), plain(le.mac), plain(le.hostname or "-"), guest, expires]


class NetworksScreen(ResourceListScreen[NetworkOps, Network, Lease]):
    BINDINGS = actions.bindings("networks")
    TITLE_WHAT = "Networks"
    NOUN, MAIN_WHAT, DETAIL_WHAT = "network", "networks", "leases"
    MAIN_ID, DETAIL_TITLE_ID, DETAIL_ID = "net-list", "net-lease-title", "net-leases"
    MAIN_COLUMNS = ("Network", "State", "Auto", "Forward", "Bridge", "Address", "DHCP")
    DETAIL_COLUMNS = ("IP", "MAC", "Host name", "Guest", "Expires")
    DETAIL_TITLE, EMPTY = "DHCP leases", NO_NETWORKS

    def family(self, caps: HostCapabilities) -> NetworkOps | None:
        return caps.networks

    # -- the lists -----------------------------------------------------------------------
    def read_main(self, ops: NetworkOps) -> tuple[Network, ...]:
        return ops.networks()

    def read_detail(self, ops: NetworkOps, name: str) -> tuple[Lease, ...]:
        return ops.leases(name)

    def main_rows(self, items: tuple[Network, ...]) -> Rows:
        return [(n.name, network_cells(n)) for n in items]

    def detail_rows(self, details: tuple[Lease, ...]) -> Rows:
        now = time.time()
        return [(f"{le.mac} {le.ip}", lease_cells(le, now)) for le in details]

    def detail_title(self, current: Network, n: int) -> Text:
        if not current.active:
            return plain(f"Network {current.name} is inactive: s starts it")
        return plain(f"DHCP leases on {current.name}: {n} lease{'' if n == 1 else 's'}")

    # -- keys ----------------------------------------------------------------------------
    def action_network_start(self) -> None:
        self.start_selected("networks.start", lambda o, name: o.start(name))

    def action_network_stop(self) -> None:
        net = self.selected_for("networks.stop")
        if net is not None:
            self.stop_asking(
                net,
                f"Stop network {net.name}? Guests on it lose it until it starts again.",
                lambda o, name: o.stop(name),
            )

    def action_network_autostart(self) -> None:
        self.toggle_autostart("networks.autostart", lambda o, name, on: o.set_autostart(name, on))

    def action_network_new(self) -> None:
        if not self.ready("networks.new"):
            return
        taken = [n.name for n in self.items]

        def check(v: dict[str, str]) -> str:
            problem = name_problem(v["name"], taken, "network")
            if problem:
                return problem
            try:
                plan_isolated(v["name"], v["address"], v["option"] == "on")
            except ValueError as exc:
                return str(exc)
            return ""

        def chosen(v: dict[str, str] | None) -> None:
            if v is None:
                return
            name, cidr, dhcp = v["name"], v["address"], v["option"] == "on"
            self.mutate(
                f"new network {name}",
                f"creating network {name}",
                lambda o: o.create_isolated(name, cidr, dhcp),
            )

        fields = [
            Field("name", "Network name", placeholder="e.g. lab"),
            Field("address", "Host address / prefix", value="10.77.0.1/24"),
        ]
        title = f"New isolated network on {self.host_label} (no forwarding)"
        self.app.push_screen(
            FormDialog(title, fields, check, option=("DHCP", ("on", "off"))), chosen
        )
