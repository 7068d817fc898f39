"""Static facts about a guest, parsed from its domain XML and cached until an event says otherwise."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tui.model.domain import Disk, DisplayInfo, DomainInfo, Graphics, Nic, UsbHostdev

__all__ = [
    "Disk",
    "DisplayInfo",
    "DomainInfo",
    "Graphics",
    "Nic",
    "UsbHostdev",
    "parse_display",
    "parse_domain",
]

#: The SPICE agent's virtio-serial port (clipboard, resolution): spice-vdagent listens on it.
SPICE_AGENT_PORT = "com.redhat.spice.0"


_UNIT = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "k": 1,
    "kib": 1,
    "kb": 1000 / 1024,
    "m": 1024,
    "mib": 1024,
    "mb": 1e6 / 1024,
    "g": 1024**2,
    "gib": 1024**2,
    "gb": 1e9 / 1024,
    "t": 1024**3,
    "tib": 1024**3,
}


def _kib(el: ET.Element | None) -> int:
    if el is None or not (el.text or "").strip():
        return 0
    unit = el.get("unit", "KiB").lower()
    return int(int(el.text.strip()) * _UNIT.get(unit, 1))  # type: ignore[union-attr]


def parse_int(text: str | None, base: int = 10) -> int | None:
    """libvirt-style numbers: '0x046d' is hex; bus/device are decimal."""
    if text is None or not text.strip():
        return None
    t = text.strip()
    try:
        if t.lower().startswith("0x"):
            return int(t, 16)
        return int(t, base)
    except ValueError:
        return None


def parse_display(root: ET.Element, secure: bool = False) -> DisplayInfo:
    """The SPICE facts of a parsed ``<domain>``. ``secure``: the XML was read with
    ``VIR_DOMAIN_XML_SECURE``, so a missing ``passwd`` means no password (else: not known).
    The password's value is never kept, only whether there is one."""
    devices = root.find("devices")
    if devices is None:
        return DisplayInfo(password_set=False if secure else None)
    password: bool | None = False if secure else None
    listen_none = []
    for g in devices.findall("graphics"):
        if g.get("type") not in ("spice", "vnc"):
            continue
        # passwdValidTo and connected are shown without SECURE, and only with a password.
        if g.get("passwd") is not None or g.get("passwdValidTo") is not None:
            password = True
        if any(lst.get("type") == "none" for lst in g.findall("listen")):
            listen_none.append(g.get("type", ""))
    agent = False
    for ch in devices.findall("channel"):
        tgt = ch.find("target")
        if ch.get("type") == "spicevmc" and (
            tgt is None or tgt.get("name") in (None, SPICE_AGENT_PORT)
        ):
            agent = True
    return DisplayInfo(
        video=tuple(
            (m.get("type") or "") if (m := v.find("model")) is not None else ""
            for v in devices.findall("video")
        ),
        agent_channel=agent,
        usbredir=sum(
            1
            for r in devices.findall("redirdev")
            if r.get("bus", "usb") == "usb" and r.get("type") == "spicevmc"
        ),
        sound=tuple(s.get("model", "") for s in devices.findall("sound")),
        usb_controllers=tuple(
            c.get("model", "") for c in devices.findall("controller") if c.get("type") == "usb"
        ),
        password_set=password,
        listen_none=tuple(listen_none),
    )


def parse_domain(xml: str, secure: bool = False) -> DomainInfo:
    """Static facts of a guest. ``secure``: ``xml`` was read with ``VIR_DOMAIN_XML_SECURE``."""
    root = ET.fromstring(xml)
    name = root.findtext("name", "")
    uuid = root.findtext("uuid", "")
    vcpu_el = root.find("vcpu")
    vcpus = int(vcpu_el.get("current") or vcpu_el.text or 1) if vcpu_el is not None else 1
    os_type = root.find("os/type")
    disks = []
    nics = []
    graphics = []
    hostdevs = []
    devices = root.find("devices")
    if devices is not None:
        for d in devices.findall("disk"):
            src = d.find("source")
            tgt = d.find("target")
            disks.append(
                Disk(
                    target=tgt.get("dev", "") if tgt is not None else "",
                    source=(
                        (src.get("file") or src.get("dev") or src.get("name") or "")
                        if src is not None
                        else ""
                    ),
                    bus=tgt.get("bus", "") if tgt is not None else "",
                    device=d.get("device", "disk"),
                )
            )
        for n in devices.findall("interface"):
            mac = n.find("mac")
            tgt = n.find("target")
            model = n.find("model")
            src = n.find("source")
            nics.append(
                Nic(
                    type=n.get("type", ""),
                    mac=mac.get("address", "") if mac is not None else "",
                    target=tgt.get("dev", "") if tgt is not None else "",
                    model=model.get("type", "") if model is not None else "",
                    source=(
                        (src.get("network") or src.get("bridge") or src.get("dev") or "")
                        if src is not None
                        else ""
                    ),
                )
            )
        for g in devices.findall("graphics"):
            listen = g.get("listen")
            socket = g.get("socket")
            for lst in g.findall("listen"):
                if lst.get("type") == "address" and lst.get("address"):
                    listen = listen or lst.get("address")
                if lst.get("type") == "socket" and lst.get("socket"):
                    socket = socket or lst.get("socket")
            port = parse_int(g.get("port"))
            tls = parse_int(g.get("tlsPort"))
            graphics.append(
                Graphics(
                    type=g.get("type", ""),
                    listen=listen,
                    port=port if port and port > 0 else None,
                    tls_port=tls if tls and tls > 0 else None,
                    socket=socket,
                    password=g.get("passwd"),
                    autoport=g.get("autoport") == "yes",
                )
            )
        for h in devices.findall("hostdev"):
            if h.get("type") != "usb":
                continue
            src = h.find("source")
            if src is None:
                continue
            v = src.find("vendor")
            p = src.find("product")
            a = src.find("address")
            hostdevs.append(
                UsbHostdev(
                    vendor=parse_int(v.get("id")) if v is not None else None,
                    product=parse_int(p.get("id")) if p is not None else None,
                    bus=parse_int(a.get("bus")) if a is not None else None,
                    device=parse_int(a.get("device")) if a is not None else None,
                    startup_policy=src.get("startupPolicy"),
                )
            )
    return DomainInfo(
        name=name,
        uuid=uuid,
        vcpus=vcpus,
        max_mem_kib=_kib(root.find("memory")),
        cur_mem_kib=_kib(root.find("currentMemory")) or _kib(root.find("memory")),
        disks=tuple(disks),
        nics=tuple(nics),
        graphics=tuple(graphics),
        usb_hostdevs=tuple(hostdevs),
        emulator_type=root.get("type", ""),
        machine=os_type.get("machine", "") if os_type is not None else "",
        arch=os_type.get("arch", "") if os_type is not None else "",
        display=parse_display(root, secure),
    )
