"""Where a running guest's graphical console listens, read from its live domain XML.

``resolve_display`` answers "what would a viewer connect to": protocol (SPICE first, VNC as a
fallback), address, port, TLS port, UNIX socket and password. It blocks (libvirt calls), so
the app calls it from a thread worker. Nothing here starts a program: that is ``tui.adapters.launch``.

The password needs ``VIR_DOMAIN_XML_SECURE``, which libvirt refuses on a read-only connection.
There the target carries no password (``password_known`` is False) and the viewer asks for it.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import libvirt

from tui.adapters.libvirt.domxml import Graphics, parse_domain
from tui.model.display import DisplayFacts
from tui.util import shell_command

#: Protocols a viewer can open, best first.
PREFERRED = ("spice", "vnc")

#: Listen addresses that mean "every interface": connect through loopback instead.
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class DisplayError(Exception):
    """The guest's console cannot be opened now. The message says why and what to do."""


@dataclass(frozen=True)
class DisplayTarget:
    """One guest display, as seen from the hypervisor host.

    ``host`` is the address to connect to *on the hypervisor host* (a wildcard listen address is
    turned into loopback); for a remote hypervisor, ``tui.adapters.launch`` tunnels to it.
    """

    guest: str
    hostname: str  # the hypervisor's host name, for the window title
    type: str  # "spice" | "vnc"
    host: str | None
    port: int | None
    tls_port: int | None = None
    socket: str | None = None
    password: str | None = field(default=None, repr=False)
    password_known: bool = True  # False: read-only connection, the viewer will ask
    # (vendor, product) of the operator's USB devices the viewer redirects to this guest (a
    # USB rule or a choice names them); see tui.adapters.launch.usbfilter.
    usb_redirect: tuple[tuple[int, int], ...] = ()

    @property
    def title(self) -> str:
        return f"{self.guest} on {self.hostname}"

    @property
    def has_password(self) -> bool:
        return bool(self.password)


def pick_graphics(graphics: tuple[Graphics, ...] | list[Graphics]) -> Graphics | None:
    """SPICE if the guest has it, else VNC; other kinds (sdl, egl-headless, dbus) cannot be viewed."""
    for kind in PREFERRED:
        for g in graphics:
            if g.type == kind:
                return g
    return None


def _listens_nowhere(xml: str, kind: str) -> bool:
    """``<listen type='none'/>``: QEMU opens no port; only virt-viewer --attach could reach it."""
    root = ET.fromstring(xml)
    for g in root.iterfind("devices/graphics"):
        if g.get("type") == kind:
            return any(lst.get("type") == "none" for lst in g.findall("listen"))
    return False


def target_from_xml(
    xml: str, hostname: str, password_known: bool = True, guest: str | None = None
) -> DisplayTarget:
    """Build the target from a running guest's live XML (pure: no libvirt call)."""
    info = parse_domain(xml)
    name = guest or info.name
    g = pick_graphics(info.graphics)
    if g is None:
        kinds = ", ".join(sorted({x.type for x in info.graphics})) or "none"
        raise DisplayError(
            f"Guest '{name}' has no SPICE or VNC display (graphics: {kinds}). Add one, e.g. "
            + shell_command("virt-xml", "--add-device", "--graphics", "spice", name=name)
            + ", and restart the guest."
        )
    if g.port is None and g.tls_port is None and g.socket is None:
        if _listens_nowhere(xml, g.type):
            raise DisplayError(
                f"Guest '{name}' has a {g.type.upper()} display that listens nowhere "
                "(<listen type='none'/>). Give it an address or socket to open it from kvmdeck."
            )
        if g.autoport:
            raise DisplayError(
                f"Guest '{name}': libvirt has not assigned a {g.type.upper()} port yet "
                "(autoport). Try again in a moment."
            )
        raise DisplayError(f"Guest '{name}': its {g.type.upper()} display has no port or socket.")
    host = None
    if g.port is not None or g.tls_port is not None:
        host = _WILDCARD.get(g.listen or "", g.listen)
    return DisplayTarget(
        guest=name,
        hostname=hostname,
        type=g.type,
        host=host,
        port=g.port,
        tls_port=g.tls_port,
        socket=g.socket if host is None else None,
        password=g.password if password_known else None,
        password_known=password_known,
    )


def _hostname(conn: libvirt.virConnect) -> str:
    try:
        return str(conn.getHostname())
    except libvirt.libvirtError:
        try:
            return urlsplit(conn.getURI()).hostname or "localhost"
        except libvirt.libvirtError:
            return "localhost"


def resolve_domain_display(
    dom: libvirt.virDomain, readonly: bool, hostname: str | None = None
) -> DisplayTarget:
    """The display of a running domain (blocking). Raises :class:`DisplayError`."""
    name = dom.name()
    try:
        active = dom.isActive() == 1
    except libvirt.libvirtError as exc:
        raise DisplayError(f"Guest '{name}': {exc.get_error_message() or exc}") from exc
    if not active:
        raise DisplayError(f"Guest '{name}' is not running: start it to open its console.")
    if hostname is None:
        hostname = _hostname(dom.connect())
    password_known = not readonly
    try:
        flags = libvirt.VIR_DOMAIN_XML_SECURE if password_known else 0
        xml = dom.XMLDesc(flags)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_DENIED or not password_known:
            raise DisplayError(f"Guest '{name}': {exc.get_error_message() or exc}") from exc
        # The connection is read-only after all: go on without the password.
        password_known = False
        try:
            xml = dom.XMLDesc(0)
        except libvirt.libvirtError as exc2:
            raise DisplayError(f"Guest '{name}': {exc2.get_error_message() or exc2}") from exc2
    return target_from_xml(xml, hostname, password_known, guest=name)


def resolve_display(conn: libvirt.virConnect, name: str, readonly: bool) -> DisplayTarget:
    """The display of guest ``name`` on ``conn`` (blocking). Raises :class:`DisplayError`."""
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        raise DisplayError(f"Guest '{name}': {exc.get_error_message() or exc}") from exc
    return resolve_domain_display(dom, readonly, _hostname(conn))


GuestDisplay = DisplayFacts  # the display doctor's facts (tui.model.display)


def read_guest_display(conn: libvirt.virConnect, name: str, readonly: bool) -> DisplayFacts:
    """The live XML of a running guest (else its saved config), parsed for the display doctor
    (blocking); for a running persistent guest its saved config too (what S added waits there
    for the next boot). With a read-write connection it is read with
    ``VIR_DOMAIN_XML_SECURE`` to learn whether a password is set; the value is dropped at
    once. Raises DisplayError."""
    try:
        dom = conn.lookupByName(name)
        active = dom.isActive() == 1
        persistent = dom.isPersistent() == 1
    except libvirt.libvirtError as exc:
        raise DisplayError(f"Guest '{name}': {exc.get_error_message() or exc}") from exc
    secure = not readonly
    try:
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE if secure else 0)
    except libvirt.libvirtError as exc:
        if not secure or exc.get_error_code() != libvirt.VIR_ERR_OPERATION_DENIED:
            raise DisplayError(f"Guest '{name}': {exc.get_error_message() or exc}") from exc
        secure = False
        try:
            xml = dom.XMLDesc(0)
        except libvirt.libvirtError as exc2:
            raise DisplayError(f"Guest '{name}': {exc2.get_error_message() or exc2}") from exc2
    info = parse_domain(xml, secure=secure)
    del xml
    saved = None
    if active and persistent:
        try:
            saved = parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).display
        except libvirt.libvirtError:
            saved = None  # gone or undefined meanwhile: the live facts alone
    # Keep whether a password is set (info.display), never its value.
    scrubbed = tuple(dataclasses.replace(g, password=None) for g in info.graphics)
    info = dataclasses.replace(info, graphics=scrubbed)
    return DisplayFacts(info, active, persistent, secure, saved)
