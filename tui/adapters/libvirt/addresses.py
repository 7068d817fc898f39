"""Guest IP addresses from libvirt: the guest agent, then DHCP leases, then ARP.

``virDomainInterfaceAddresses`` with each source in turn; the first source that answers with
an address other than loopback is kept (virt-manager's order). Blocking: call from a daemon
thread (the core's address lane), never from the event loop.

The agent, measured here (libvirt 9.0, QEMU 7.2): a guest without an agent channel, or whose
agent is not connected yet, fails at once; a running agent answers in 5-10 ms; an agent that
is connected but stuck (qemu-ga stopped with SIGSTOP) blocks the call **for ever**: libvirt's
per-domain agent response timeout defaults to ``VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK``
(waited > 600 s), and the guest-sync that has its own 5 s timeout is sent only when the agent
connects. kvmdeck does not change that timeout (``virDomainAgentSetResponseTimeout`` is the
guest's setting, shared with every other client). Instead each agent call runs in a daemon
thread of its own and is abandoned after :data:`AGENT_TIMEOUT_S`; while it is still stuck,
that guest's agent is not asked again (one stuck thread per stuck agent at most), and the
guest's addresses come from leases or ARP. The agent source needs a read-write connection
(libvirt refuses it on a read-only one); leases and ARP work read-only. The agent calls' threads
are reused (:class:`tui.threads.Reuse`, shared by every host): 50 hosts of 14 running guests
asked every 10 s made 70 threads a second; a stuck call keeps only its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import libvirt

from tui.model.addresses import AddressMap, GuestAddress, useful
from tui.threads import Reuse

log = logging.getLogger(__name__)

SOURCES: tuple[tuple[str, int], ...] = (
    ("agent", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT),
    ("lease", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE),
    ("arp", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP),
)
AGENT_TIMEOUT_S = 5.0  # an agent call not answered by then is abandoned (libvirt never gives up)
AGENT_THREADS = Reuse("kvmdeck:agent idle")  # every reader's agent calls, one thread each


class AgentStuck(Exception):
    """The guest agent did not answer within AGENT_TIMEOUT_S (or an earlier call still hangs)."""


def parse(ifaces: dict[str, dict] | None, source: str) -> list[GuestAddress]:
    """libvirt's ``{iface: {"hwaddr": mac, "addrs": [{"addr", "prefix", "type"}]}}``."""
    out: list[GuestAddress] = []
    for name, info in sorted((ifaces or {}).items()):
        mac = str((info or {}).get("hwaddr") or "")
        for a in (info or {}).get("addrs") or ():
            addr = str(a.get("addr") or "")
            if not addr:
                continue
            prefix = a.get("prefix")
            out.append(
                GuestAddress(
                    iface=str(name),
                    mac=mac,
                    addr=addr,
                    prefix=int(prefix) if isinstance(prefix, int) else None,
                    source=source,
                )
            )
    return out


class AddressReader:
    """Reads guests' addresses on one connection; remembers which agents failed lately."""

    def __init__(
        self,
        agent: bool = True,
        timeout_s: float = AGENT_TIMEOUT_S,
        hold: Callable[[], Callable[[], None]] | None = None,
    ) -> None:
        self.agent = agent  # False on a read-only connection: libvirt refuses the agent source
        # Counts an agent call as in flight on the connection until its thread ends, which may
        # be long after the read gave up on it (the host must not close the connection under
        # it): returns the release.
        self.hold = hold
        self.timeout_s = timeout_s
        self._pending: dict[str, threading.Event] = {}  # uuid -> set when its agent call ended
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {name: 0 for name, _ in SOURCES}  # tests, diagnostics
        self._doms: dict[str, libvirt.virDomain] = {}  # looked up once, not every run
        self._conn: libvirt.virConnect | None = None

    def read(self, conn: libvirt.virConnect, uuids: Iterable[str]) -> AddressMap:
        """``{uuid: [GuestAddress, …]}`` for each guest in ``uuids`` that still exists."""
        out: AddressMap = {}
        for uuid in uuids:
            dom = self._doms.get(uuid)
            if dom is None or self._conn is not conn:
                try:
                    dom = conn.lookupByUUIDString(uuid)
                except libvirt.libvirtError:
                    continue  # gone since the poll
            self._doms[uuid] = dom
            found = self.guest(dom, uuid)
            if found is not None:  # unknown (the agent hung, nothing else answered): left out
                out[uuid] = found
        self._conn = conn
        for gone in set(self._doms) - set(out):
            del self._doms[gone]
        return out

    def drop(self) -> None:
        """Forget the connection and its domains (the host closes it: hold no reference)."""
        self._doms = {}
        self._conn = None

    def guest(self, dom: libvirt.virDomain, uuid: str) -> list[GuestAddress] | None:
        """The guest's addresses from the first source that has some; ``[]`` when the guest
        agent answered with none; None when that is not known (no agent answer: it hung,
        failed or was not asked, and leases and ARP have nothing)."""
        agent_answered = False
        for name, source in SOURCES:
            if name == "agent" and not self.agent:
                continue
            self.calls[name] += 1
            try:
                if name == "agent":
                    answer = self._agent(dom, uuid)
                else:
                    answer = dom.interfaceAddresses(source, 0)
                found = useful(parse(answer, name))
                agent_answered |= name == "agent"
            except (libvirt.libvirtError, AgentStuck) as exc:
                text = exc.get_error_message() if isinstance(exc, libvirt.libvirtError) else exc
                log.debug("%s of %s: %s", name, uuid, text)
                continue
            if found:
                return found
        return [] if agent_answered else None

    def _agent(self, dom: libvirt.virDomain, uuid: str) -> Any:
        """``interfaceAddresses(AGENT)`` in a thread of its own, abandoned after the timeout."""
        with self._lock:
            pending = self._pending.get(uuid)
            if pending is not None and not pending.is_set():
                raise AgentStuck(f"an agent call of {uuid} still hangs")
            ended = self._pending[uuid] = threading.Event()
        box: dict[str, Any] = {}
        release = self.hold() if self.hold is not None else None

        def call() -> None:
            threading.current_thread().name = f"kvmdeck:agent {uuid}"
            try:
                box["answer"] = dom.interfaceAddresses(
                    libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0
                )
            except libvirt.libvirtError as exc:
                box["error"] = exc
            finally:
                threading.current_thread().name = AGENT_THREADS.idle_name
                ended.set()
                if release is not None:
                    release()

        if not AGENT_THREADS.offer(call):  # no idle thread: a new one (never waits for one)
            AGENT_THREADS.thread(call).start()
        if not ended.wait(self.timeout_s):
            raise AgentStuck(f"the agent of {uuid} did not answer within {self.timeout_s:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("answer")

    def stuck(self) -> list[str]:
        """Guests whose agent call still hangs (tests, diagnostics)."""
        with self._lock:
            return [u for u, ev in self._pending.items() if not ev.is_set()]

    def forget(self, keep: Iterable[str]) -> None:
        keep = set(keep)
        with self._lock:
            for uuid in list(self._pending):
                if uuid not in keep and self._pending[uuid].is_set():
                    del self._pending[uuid]
