"""Issue 24's smaller items: ``stats`` says ``"ips": null`` when a guest's addresses are not
known (its agent hung and nothing else answered), not ``[]``; a host that stopped answering
13 s ago is not "stale 0s"; ``doctor --guest MISSING --json`` prints a JSON error object.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import libvirt

from tui.adapters.libvirt.addresses import AddressReader
from tui.cli.doctor import run_guest
from tui.cli.stats import _ips
from tui.model.fleet import Host
from tui.model.ids import HostId
from tui.model.link import LinkState


class _Domain:
    """A domain whose agent hangs (libvirt waits for ever on a stopped qemu-ga) or answers
    with no address, and whose leases and ARP have none. A fake in timing only: a real hung
    agent holds the test for libvirt's 600 s."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.release = threading.Event()

    def interfaceAddresses(self, source: int, _flags: int) -> dict[str, Any]:
        if source == libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT:
            if self.agent == "hangs":
                self.release.wait(30)
            return {"lo": {"hwaddr": "00:00:00:00:00:00", "addrs": [{"addr": "127.0.0.1"}]}}
        return {}


class _Conn:
    def __init__(self, doms: dict[str, _Domain]) -> None:
        self.doms = doms

    def lookupByUUIDString(self, uuid: str) -> _Domain:
        return self.doms[uuid]


def test_stats_ips_are_null_when_unknown_and_empty_when_the_agent_says_none() -> None:
    hung, empty = _Domain("hangs"), _Domain("answers")
    reader = AddressReader(timeout_s=0.2)
    try:
        found = reader.read(_Conn({"hung": hung, "empty": empty}), ["hung", "empty"])  # type: ignore[arg-type]
    finally:
        hung.release.set()
    assert _ips(found, "hung") is None
    assert _ips(found, "empty") == []
    row = json.loads(json.dumps({"ips": _ips(found, "hung")}))
    assert row == {"ips": None}


def test_a_host_that_stopped_answering_13_s_ago_is_13_s_stale() -> None:
    host = Host(HostId.of("test:///default"), "h")
    host.polled_at = 100.0  # the last poll applied
    host.state = LinkState.RECONNECTING  # declared lost after 10 s without an answer
    host.since = 110.0
    assert host.stale_for(now=113.0) == 13.0
    host.state = LinkState.UP
    assert host.stale_for(now=113.0) is None


def test_doctor_guest_missing_json_prints_a_json_error() -> None:
    out = io.StringIO()
    code = run_guest("test:///default", "no-such-guest-hardtext", True, out=out, env={})
    assert code == 2
    doc = json.loads(out.getvalue())
    assert doc["guest"] == "no-such-guest-hardtext" and doc["exit"] == 2
    assert "no-such-guest-hardtext" in doc["error"]


def test_doctor_guest_missing_text_prints_nothing_on_stdout() -> None:
    out = io.StringIO()
    assert run_guest("test:///default", "no-such-guest-hardtext", False, out=out, env={}) == 2
    assert out.getvalue() == ""
