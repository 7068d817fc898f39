"""Issue 13's pure pieces: addresses (model, libvirt's answer parsed, the fleet), snapshot
trees and names, what the disks allow, the serial console's checks and its command line."""

from __future__ import annotations

import pytest

from tui.adapters.libvirt.addresses import parse
from tui.adapters.libvirt.serial import command, serial_problem
from tui.adapters.libvirt.snapshots import blocked_reason, parse_snapshot, snapshot_xml
from tui.model.addresses import GuestAddress, primary, summary, useful
from tui.model.fleet import Fleet
from tui.model.guest import GuestSample
from tui.model.host import PollResult
from tui.model.ids import GuestKey, HostId
from tui.model.snapshots import Snapshot, name_problem, tree, tree_guides

AGENT_ANSWER = {
    "lo": {
        "hwaddr": "00:00:00:00:00:00",
        "addrs": [
            {"addr": "127.0.0.1", "prefix": 8, "type": 0},
            {"addr": "::1", "prefix": 128, "type": 1},
        ],
    },
    "eth0": {
        "hwaddr": "52:54:00:12:34:56",
        "addrs": [
            {"addr": "fe80::5054:ff:fe12:3456", "prefix": 64, "type": 1},
            {"addr": "10.0.2.15", "prefix": 24, "type": 0},
        ],
    },
}


def test_agent_answer_parsed_without_loopback_ipv4_first() -> None:
    got = useful(parse(AGENT_ANSWER, "agent"))
    assert [a.addr for a in got] == ["fe80::5054:ff:fe12:3456", "10.0.2.15"]
    assert {a.source for a in got} == {"agent"} and {a.iface for a in got} == {"eth0"}
    first = primary(got)
    assert first is not None and first.addr == "10.0.2.15" and first.cidr == "10.0.2.15/24"
    assert summary(got) == "10.0.2.15 +1"
    assert summary([]) == "" and primary([]) is None
    assert parse(None, "lease") == [] and parse({"vnet0": {"addrs": None}}, "arp") == []


def _poll(host: HostId, uuids: list[str]) -> PollResult:
    samples = [GuestSample(f"g{i}", u, "running", 1, 1) for i, u in enumerate(uuids)]
    return PollResult(host.uri, samples, 0.0, 0, None, {}, {})


def test_fleet_apply_addresses_sets_changes_and_clears() -> None:
    fleet = Fleet()
    host = HostId.of("qemu:///system")
    fleet.add_host(host, "h")
    fleet.apply_poll(host, 1, _poll(host, ["u1", "u2"]))
    a = GuestAddress("eth0", "52:54:00:00:00:01", "10.0.2.15", 24, "agent")
    change = fleet.apply_addresses(host, {"u1": [a], "u2": []})
    assert change.changed == {GuestKey(host, "u1")} and host in change.hosts
    assert fleet.guest(GuestKey(host, "u1")).addresses == (a,)  # type: ignore[union-attr]
    assert not fleet.apply_addresses(host, {"u1": [a]})  # nothing new: no change to render
    change = fleet.apply_addresses(host, {})  # u1 stopped: its address goes
    assert change.changed == {GuestKey(host, "u1")}
    assert fleet.guest(GuestKey(host, "u1")).addresses == ()  # type: ignore[union-attr]
    assert not fleet.apply_addresses(HostId.of("nowhere"), {})


def test_snapshot_tree_and_names() -> None:
    snaps = [
        Snapshot("b", "a", False, 20, "running", memory=True),
        Snapshot("a", None, False, 10, "shutoff"),
        Snapshot("c", "a", True, 30, "running", memory=True),
        Snapshot("d", "b", False, 40, "running"),
        Snapshot("orphan", "gone", False, 5, "shutoff"),
    ]
    assert [(d, s.name) for d, s in tree(snaps)] == [
        (0, "orphan"),
        (0, "a"),
        (1, "b"),
        (2, "d"),
        (1, "c"),
    ]
    # drawn like tree(1): b has a later sibling (c), so its branch stays open past d
    assert [(g, s.name) for g, s in tree_guides(snaps)] == [
        ("", "orphan"),
        ("", "a"),
        ("├ ", "b"),
        ("│ └ ", "d"),
        ("└ ", "c"),
    ]
    assert name_problem("ok-1.2_x") is None
    assert name_problem("") == "give the snapshot a name"
    assert "only" in (name_problem("a b") or "") and "only" in (name_problem("a/b") or "")
    assert name_problem("a", ["a"]) == "'a' already exists"


def test_snapshot_xml_is_escaped_and_says_memory() -> None:
    xml = snapshot_xml("s1", "<b>&", memory=True, active=True)
    assert "<description>&lt;b&gt;&amp;</description>" in xml
    assert "<memory snapshot='internal'/>" in xml
    assert "<memory" not in snapshot_xml("s1", "", memory=False, active=False)
    parsed = parse_snapshot(
        "<domainsnapshot><name>s1</name><description>x &amp; y</description>"
        "<state>running</state><parent><name>s0</name></parent>"
        "<creationTime>1700000000</creationTime><memory snapshot='internal'/></domainsnapshot>",
        current=True,
    )
    assert parsed == Snapshot("s1", "s0", True, 1700000000, "running", "x & y", True)


def _domain(disks: str, devices: str = "") -> str:
    return f"<domain><name>g</name><devices>{disks}{devices}</devices></domain>"


def test_raw_disks_block_internal_snapshots_with_the_fix() -> None:
    qcow = "<disk device='disk'><driver type='qcow2'/><source file='/i/a.qcow2'/><target dev='vda'/></disk>"
    raw = "<disk device='disk'><driver type='raw'/><source file='/i/b.img'/><target dev='vdb'/></disk>"
    cdrom = "<disk device='cdrom'><driver type='raw'/><target dev='sda'/><readonly/></disk>"
    assert blocked_reason(_domain(qcow + cdrom)) == ""
    why = blocked_reason(_domain(qcow + raw))
    assert "internal snapshots need qcow2 disks" in why
    assert "vdb is raw (/i/b.img)" in why and "qemu-img convert -O qcow2" in why


def test_serial_problem_says_what_is_missing() -> None:
    assert serial_problem(_domain("", "<serial type='pty'/><console type='pty'/>"), "g") is None
    assert serial_problem(_domain("", "<console type='pty'/>"), "g") is None
    none = serial_problem(_domain(""), "web")
    assert (
        none is not None and "web has no serial console" in none and "<serial type='pty'/>" in none
    )
    other = serial_problem(_domain("", "<serial type='file'/>"), "web")
    assert other is not None and "file device" in other


def test_virsh_command_keeps_the_uri_off_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _c: "/usr/bin/virsh")
    uri = "qemu+ssh://root@hv2/system?keyfile=/secret/key"
    argv, env = command(uri, "1234-uuid")
    assert argv == ["/usr/bin/virsh", "console", "--domain", "1234-uuid"]
    assert not any("hv2" in a or "keyfile" in a for a in argv)
    assert env["LIBVIRT_DEFAULT_URI"].startswith("qemu+ssh://root@hv2/system?")
    assert "no_tty=1" in env["LIBVIRT_DEFAULT_URI"]
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu:///session")
    monkeypatch.setenv("VIRSH_DEFAULT_CONNECT_URI", "test:///default")
    argv, env = command(None, "u")
    assert env["LIBVIRT_DEFAULT_URI"] == "qemu:///session"  # libvirt's default, as kvmdeck's
    assert "VIRSH_DEFAULT_CONNECT_URI" not in env


class _StuckAgentDomain:
    """A domain whose agent never answers (what libvirt does for a stopped qemu-ga: it waits
    for ever). A fake in timing only; leases answer at once."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()
        self.agent_calls = 0

    def interfaceAddresses(self, source: int, _flags: int) -> dict:
        import libvirt

        if source == libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT:
            self.agent_calls += 1
            self.release.wait(30)
            return {}
        if source == libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE:
            return {
                "vnet0": {
                    "hwaddr": "52:54:00:00:00:02",
                    "addrs": [{"addr": "192.168.100.7", "prefix": 24}],
                }
            }
        return {}


def test_a_stuck_agent_is_abandoned_and_not_asked_again() -> None:
    from tui.adapters.libvirt.addresses import AddressReader

    dom = _StuckAgentDomain()
    reader = AddressReader(timeout_s=0.2)
    try:
        got = reader.guest(dom, "u1")  # type: ignore[arg-type]
        assert [(a.addr, a.source) for a in got] == [("192.168.100.7", "lease")]
        assert reader.stuck() == ["u1"]
        reader.guest(dom, "u1")  # type: ignore[arg-type]
        assert dom.agent_calls == 1  # the first call still hangs: not a second thread
    finally:
        dom.release.set()
