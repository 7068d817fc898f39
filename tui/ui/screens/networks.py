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
from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Static

from tui.core.ports import HostCapabilities, NetworkOps
from tui.model.ids import HostId
from tui.model.network import Lease, Network, plan_isolated
from tui.model.storage import name_problem
from tui.ui import actions
from tui.ui.screens.hostops import Cell, Field, FormDialog, HostOpsScreen, plain, refill, row_key
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

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


class NetworksScreen(HostOpsScreen[NetworkOps]):
    BINDINGS = actions.bindings("networks")
    TITLE_WHAT = "Networks"
    DEFAULT_CSS = """
    NetworksScreen #ops-title, NetworksScreen #net-lease-title { padding: 0 1; }
    NetworksScreen #net-lease-title { color: $text-muted; }
    NetworksScreen #ops-busy { padding: 0 1; height: auto; color: $warning; }
    NetworksScreen #net-list { height: auto; max-height: 8; }
    NetworksScreen #net-leases { height: 1fr; }
    """

    def __init__(self, host: HostId, host_label: str) -> None:
        super().__init__(host, host_label)
        self.networks: tuple[Network, ...] = ()
        self.leases: tuple[Lease, ...] = ()
        self.leases_of = ""
        self.network_loads = self.lease_loads = 0  # lists applied (tests wait on them)

    def family(self, caps: HostCapabilities) -> NetworkOps | None:
        return caps.networks

    def compose(self) -> ComposeResult:
        yield Label(
            Text(terminal_safe(f"Networks on {self.host_label}"), style="bold"), id="ops-title"
        )
        nets: DataTable[Cell] = DataTable(id="net-list", cursor_type="row", zebra_stripes=True)
        nets.add_columns("Network", "State", "Auto", "Forward", "Bridge", "Address", "DHCP")
        yield nets
        yield Label("DHCP leases", id="net-lease-title")
        leases: DataTable[Cell] = DataTable(id="net-leases", cursor_type="row", zebra_stripes=True)
        leases.add_columns("IP", "MAC", "Host name", "Guest", "Expires")
        yield leases
        yield Static("", id="ops-busy")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#net-list", DataTable).focus()
        self.set_interval(0.5, self.tick)
        self.reload()

    # -- the lists -----------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self.network_loads > 0

    def reload(self) -> None:
        self.submit("networks", lambda ops: ops.networks(), self.show_networks, quiet=True)

    def show_networks(self, networks: tuple[Network, ...]) -> None:
        if not self.is_attached:
            return
        self.networks = networks
        table = self.query_one("#net-list", DataTable)
        refill(table, [(n.name, network_cells(n)) for n in networks], row_key(table))
        self.network_loads += 1
        self.load_leases()

    def selected(self) -> Network | None:
        name = row_key(self.query_one("#net-list", DataTable))
        return next((n for n in self.networks if n.name == name), None)

    def load_leases(self) -> None:
        net = self.selected()
        if net is None or not net.active:
            self.show_leases(net.name if net else "", ())
            return
        name = net.name
        self.submit(
            f"leases of {name}",
            lambda ops: ops.leases(name),
            lambda got: self.show_leases(name, got),
            quiet=True,
        )

    def show_leases(self, network: str, leases: tuple[Lease, ...]) -> None:
        if not self.is_attached:
            return
        current = self.selected()
        if current is not None and current.name != network:
            return  # the cursor moved on meanwhile
        self.leases, self.leases_of = leases, network
        table = self.query_one("#net-leases", DataTable)
        now = time.time()
        refill(
            table, [(f"{le.mac} {le.ip}", lease_cells(le, now)) for le in leases], row_key(table)
        )
        title = self.query_one("#net-lease-title", Label)
        if current is None:
            title.update(NO_NETWORKS if not self.networks else "DHCP leases")
        elif not current.active:
            title.update(plain(f"Network {network} is inactive: s starts it"))
        else:
            n = len(leases)
            title.update(plain(f"DHCP leases on {network}: {n} lease{'' if n == 1 else 's'}"))
        self.lease_loads += 1

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "net-list":
            net = self.selected()
            if net is not None and net.name != self.leases_of:
                self.load_leases()

    # -- keys ----------------------------------------------------------------------------
    def _network_for(self, action_id: str) -> Network | None:
        if actions.refuse(self.deck, action_id) or not self.not_busy(action_id):
            return None
        net = self.selected()
        if net is None:
            self.app.notify("No network selected.", severity="warning")
        return net

    def action_network_start(self) -> None:
        net = self._network_for("networks.start")
        if net is not None:
            name = net.name
            self.submit(
                f"start network {name}",
                lambda o: o.start(name),
                self.said,
                busy=f"starting network {name}",
            )

    def action_network_stop(self) -> None:
        net = self._network_for("networks.stop")
        if net is None:
            return
        name = net.name
        gone = "" if net.persistent else " It is transient: it will be gone."
        self.ask(
            f"Stop network {name}? Guests on it lose it until it starts again.{gone}",
            "Stop",
            lambda: self.submit(
                f"stop network {name}",
                lambda o: o.stop(name),
                self.said,
                busy=f"stopping network {name}",
            ),
        )

    def action_network_autostart(self) -> None:
        net = self._network_for("networks.autostart")
        if net is not None:
            name, on = net.name, not net.autostart
            self.submit(f"autostart network {name}", lambda o: o.set_autostart(name, on), self.said)

    def action_network_new(self) -> None:
        if actions.refuse(self.deck, "networks.new") or not self.not_busy("networks.new"):
            return
        taken = [n.name for n in self.networks]

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
            self.submit(
                f"new network {name}",
                lambda o: o.create_isolated(name, cidr, dhcp),
                self.said,
                busy=f"creating network {name}",
            )

        fields = [
            Field("name", "Network name", placeholder="e.g. lab"),
            Field("address", "Host address / prefix", value="10.77.0.1/24"),
        ]
        title = f"New isolated network on {self.host_label} (no forwarding)"
        self.app.push_screen(
            FormDialog(title, fields, check, option=("DHCP", ("on", "off"))), chosen
        )
