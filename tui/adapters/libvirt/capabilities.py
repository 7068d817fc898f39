"""libvirt's view of KVM on a host: is domain type ``kvm`` offered for the host arch?

``getDomainCapabilities`` is refused on read-only connections ("read only access prevents
virConnectGetDomainCapabilities"), so the ``<guest>`` entries of ``getCapabilities`` are the
answer there, and ``getDomainCapabilities`` confirms it when the connection allows.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from dataclasses import replace

import libvirt

from tui.adapters.libvirt.connection import ConnectFailed, open_connection
from tui.model.vt import KvmView


def _host_cpu(caps: ET.Element) -> tuple[str | None, str | None, frozenset[str]]:
    cpu = caps.find("host/cpu")
    if cpu is None:
        return None, None, frozenset()
    features = frozenset(f.get("name", "") for f in cpu.findall("feature"))
    return cpu.findtext("arch"), cpu.findtext("vendor"), features


def _guest_arch(caps: ET.Element, arch: str | None) -> tuple[bool, str | None]:
    """(kvm offered for ``arch`` in some hvm guest entry, its emulator)."""
    for guest in caps.findall("guest"):
        if guest.findtext("os_type") != "hvm":
            continue
        node = guest.find("arch")
        if node is None or node.get("name") != arch:
            continue
        for dom in node.findall("domain"):
            if dom.get("type") == "kvm":
                return True, dom.findtext("emulator") or node.findtext("emulator")
    return False, None


def kvm_view(conn: libvirt.virConnect, uri: str | None = None) -> KvmView:
    """libvirt's view through an open connection (blocking: call from a thread worker)."""
    real = uri or ""
    try:
        real = conn.getURI() or real
        driver = conn.getType()
        hostname = conn.getHostname()
        caps = ET.fromstring(conn.getCapabilities())
    except libvirt.libvirtError as exc:
        return KvmView(uri=real, error=exc.get_error_message() or str(exc))
    arch, vendor, features = _host_cpu(caps)
    offered, emulator = _guest_arch(caps, arch)
    view = KvmView(
        uri=real,
        driver=driver,
        hostname=hostname,
        arch=arch,
        kvm_offered=offered,
        cpu_vendor=vendor,
        cpu_features=features,
        emulator=emulator,
        source="getCapabilities",
    )
    try:
        dom = ET.fromstring(conn.getDomainCapabilities(None, arch, None, "kvm", 0))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED:
            return view  # read-only connection: getCapabilities is the answer
        if offered:  # libvirt listed kvm but cannot describe it: trust the stricter call
            why = exc.get_error_message()
            return replace(view, kvm_offered=False, source=f"getDomainCapabilities: {why}")
        return view
    return replace(
        view,
        kvm_offered=dom.findtext("domain") == "kvm",
        emulator=dom.findtext("path") or emulator,
        source="getDomainCapabilities",
    )


def open_kvm_view(uri: str | None) -> KvmView:
    """Open ``uri`` read-only, ask, close. A failed open is a view with ``error`` set."""
    try:
        conn = open_connection(uri, readonly=True)
    except ConnectFailed as exc:
        return KvmView(uri=uri or "(default)", error=exc.failure.summary, failure=exc.failure)
    try:
        return kvm_view(conn, uri)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
