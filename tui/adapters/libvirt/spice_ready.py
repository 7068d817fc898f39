"""Make a guest SPICE-ready: add what its saved config lacks for the agent, USB redirection
and audio, shown as a diff first.

:func:`make_spice_ready` is a pure XML transform: it inserts the missing devices as text before
``</devices>`` (nothing else in the document changes, so the diff shows only the new lines):

- SPICE graphics on 127.0.0.1 (when the guest has none; kvmdeck tunnels to loopback);
- a ``qemu-xhci`` USB controller, so that USB 3 devices can be redirected (a ``model='none'``
  controller becomes one; otherwise a new one at the next free index carries the new
  redirection channels);
- the ``spicevmc`` agent channel ``com.redhat.spice.0`` (clipboard, resolution; spice-vdagent);
- ``usbredir`` channels up to :data:`USBREDIR_CHANNELS` (one redirected device each);
- a sound device (``ich9`` on q35, ``ich6`` otherwise).

:func:`plan` reads the saved (inactive) config *with* ``VIR_DOMAIN_XML_SECURE``: defining XML
read without it would drop the display's password. The XML therefore never leaves this module
except to ``defineXML``; the diff in the plan has passwords redacted. :func:`apply` defines the
new config with libvirt's schema validation, after checking the saved config did not change
since the plan was made. Both block (libvirt calls): call them from a worker thread.
"""

from __future__ import annotations

import difflib
import re
import xml.etree.ElementTree as ET

import libvirt

from tui.adapters.libvirt.domxml import SPICE_AGENT_PORT
from tui.model.display import SpiceReadyPlan

USBREDIR_CHANNELS = 2
XHCI_MODELS = ("qemu-xhci", "nec-xhci")

_PASSWD = re.compile(r"""\bpasswd=(['"]).*?\1""")
_USB_NONE = re.compile(
    r"""<controller\b(?=[^>]*\btype=['"]usb['"])(?=[^>]*\bmodel=['"]none['"])[^>]*>"""
)


class SpiceReadyError(Exception):
    """The guest cannot be made SPICE-ready now; the message says why and what to do."""


def redact(xml: str) -> str:
    """The XML with every ``passwd='…'`` value replaced (for showing a diff)."""
    return _PASSWD.sub("passwd='(hidden)'", xml)


def _indent_before(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    line = text[start:pos]
    return line if not line.strip() else ""


def make_spice_ready(xml: str) -> tuple[str, list[str]]:
    """``(new_xml, added)``: ``xml`` with the missing SPICE devices added, and one phrase per
    addition ("spicevmc agent channel (com.redhat.spice.0)"). ``added`` is empty when nothing
    is missing (then ``new_xml == xml``). Pure: no libvirt call."""
    root = ET.fromstring(xml)
    devices = root.find("devices")
    if devices is None:
        raise SpiceReadyError("The domain XML has no <devices> element.")
    os_type = root.find("os/type")
    machine = (os_type.get("machine", "") if os_type is not None else "").lower()
    new_xml = xml
    added: list[str] = []
    lines: list[str] = []

    if not any(g.get("type") == "spice" for g in devices.findall("graphics")):
        lines += [
            "<graphics type='spice' autoport='yes' listen='127.0.0.1'>",
            "  <listen type='address' address='127.0.0.1'/>",
            "</graphics>",
        ]
        added.append("SPICE graphics on 127.0.0.1")

    usb = [c for c in devices.findall("controller") if c.get("type") == "usb"]
    redir_bus: int | None = None
    if not any(c.get("model") in XHCI_MODELS for c in usb):
        if usb and all(c.get("model") == "none" for c in usb) and _USB_NONE.search(new_xml):
            new_xml = _USB_NONE.sub(
                lambda m: (
                    m.group(0).replace("'none'", "'qemu-xhci'").replace('"none"', '"qemu-xhci"')
                ),
                new_xml,
                count=1,
            )
            added.append("qemu-xhci USB controller (instead of model='none': USB was off)")
        else:
            index = max((int(c.get("index", "0") or 0) for c in usb), default=-1) + 1
            lines.append(f"<controller type='usb' index='{index}' model='qemu-xhci' ports='15'/>")
            added.append(f"qemu-xhci USB controller (USB 3, index {index})")
            redir_bus = index if usb else None

    agent = any(
        ch.get("type") == "spicevmc"
        and ((t := ch.find("target")) is None or t.get("name") in (None, SPICE_AGENT_PORT))
        for ch in devices.findall("channel")
    )
    if not agent:
        lines += [
            "<channel type='spicevmc'>",
            f"  <target type='virtio' name='{SPICE_AGENT_PORT}'/>",
            "</channel>",
        ]
        added.append(f"spicevmc agent channel ({SPICE_AGENT_PORT}: clipboard, resolution)")

    have = sum(
        1
        for r in devices.findall("redirdev")
        if r.get("bus", "usb") == "usb" and r.get("type") == "spicevmc"
    )
    missing = max(0, USBREDIR_CHANNELS - have)
    for port in range(1, missing + 1):
        if redir_bus is None:
            lines.append("<redirdev bus='usb' type='spicevmc'/>")
        else:  # on the new xHCI controller, not on the older USB 1/2 one at index 0
            lines += [
                "<redirdev bus='usb' type='spicevmc'>",
                f"  <address type='usb' bus='{redir_bus}' port='{port}'/>",
                "</redirdev>",
            ]
    if missing:
        plural = "s" if missing > 1 else ""
        added.append(f"{missing} usbredir channel{plural} (USB redirection from the viewer)")

    if devices.find("sound") is None:
        model = "ich9" if "q35" in machine else "ich6"
        lines.append(f"<sound model='{model}'/>")
        added.append(f"sound device ({model})")

    if lines:
        pos = new_xml.rfind("</devices>")
        if pos < 0:  # <devices/> written empty: nothing to insert into (libvirt never does)
            raise SpiceReadyError("The domain XML has an empty <devices/> element.")
        base = _indent_before(new_xml, pos)
        inner = base + ("  " if base else "")
        block = "".join(f"{inner}{line}\n" for line in lines)
        line_start = pos - len(base)
        new_xml = new_xml[:line_start] + block + new_xml[line_start:]
    ET.fromstring(new_xml)  # still well-formed
    return new_xml, added


def diff(old_xml: str, new_xml: str, guest: str) -> str:
    """A unified diff of the saved config, passwords redacted."""
    return "".join(
        difflib.unified_diff(
            redact(old_xml).splitlines(keepends=True),
            redact(new_xml).splitlines(keepends=True),
            f"{guest} (saved config)",
            f"{guest} (SPICE-ready)",
            n=2,
        )
    )


def _lookup(conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        raise SpiceReadyError(f"Guest '{name}': {exc.get_error_message() or exc}") from exc


def _saved_xml(dom: libvirt.virDomain, name: str) -> str:
    try:
        return str(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    except libvirt.libvirtError as exc:
        raise SpiceReadyError(
            f"Guest '{name}': cannot read its saved config with its secrets "
            f"({exc.get_error_message() or exc}); kvmdeck needs a read-write connection."
        ) from exc


def plan(conn: libvirt.virConnect, name: str) -> SpiceReadyPlan:
    """What making ``name`` SPICE-ready would change (blocking). A transient guest gets a plan
    with ``persistent=False`` and nothing added: it has no saved config to change."""
    dom = _lookup(conn, name)
    try:
        persistent = dom.isPersistent() == 1
        active = dom.isActive() == 1
    except libvirt.libvirtError as exc:
        raise SpiceReadyError(f"Guest '{name}': {exc.get_error_message() or exc}") from exc
    if not persistent:
        return SpiceReadyPlan(name, persistent=False, active=active)
    base = _saved_xml(dom, name)
    new, added = make_spice_ready(base)
    return SpiceReadyPlan(
        name,
        persistent=True,
        active=active,
        added=tuple(added),
        diff=diff(base, new, name) if added else "",
        base_xml=base,
        new_xml=new,
    )


def apply(conn: libvirt.virConnect, name: str, new_xml: str, base_xml: str | None = None) -> str:
    """Define ``new_xml`` as ``name``'s saved config (blocking); returns what happened.

    With ``base_xml`` (the config the diff was made from), refuses when the saved config has
    changed since. libvirt validates the XML against its schema (``DEFINE_VALIDATE``).
    """
    dom = _lookup(conn, name)
    if base_xml is not None and _saved_xml(dom, name) != base_xml:
        raise SpiceReadyError(
            f"The saved config of '{name}' changed since the diff was shown; "
            "nothing was applied. Look at the new diff and confirm again."
        )
    root = ET.fromstring(new_xml)
    if root.findtext("name") != name:
        raise SpiceReadyError(f"The new config is not the config of '{name}'.")
    try:
        conn.defineXMLFlags(new_xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        active = dom.isActive() == 1
    except libvirt.libvirtError as exc:
        raise SpiceReadyError(
            f"libvirt refused the new config of '{name}': {exc.get_error_message() or exc}"
        ) from exc
    when = SpiceReadyPlan(name, True, active).when
    return f"'{name}' is SPICE-ready in its saved config; it {when}."
