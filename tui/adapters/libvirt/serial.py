"""A guest's serial console: can it be opened, and the ``virsh console`` command that opens it.

kvmdeck runs ``virsh console`` in its own terminal (the UI suspends itself meanwhile; Ctrl+]
ends virsh and returns). virsh gets the connection URI through ``LIBVIRT_DEFAULT_URI`` in its
environment and the guest by UUID, so its command line carries no URI (whose query may name
a key file) and nothing secret; ``no_tty=1`` is added to ssh transports as for kvmdeck's own
connection, so ssh never prompts.

Over ``qemu+ssh://`` libvirt would open an ssh connection of its own for virsh; given
``ssh_command`` (the launcher's :meth:`~tui.adapters.launch.Launcher.ssh_command`), the URI's
``command=`` names a wrapper that rides kvmdeck's one ssh connection to that host instead
(issue 23). The wrapper's path is in the environment too, never on the command line.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import libvirt

from tui.adapters.libvirt.connection import with_no_tty


class SerialError(Exception):
    """The console cannot be opened; the message says why and what to do."""


def serial_problem(domain_xml: str, name: str) -> str | None:
    """Why this guest has no serial console libvirt can attach to, or None."""
    root = ET.fromstring(domain_xml)
    devs = root.findall("devices/console") + root.findall("devices/serial")
    if not devs:
        return (
            f"{name} has no serial console: its XML has no <serial> or <console> device."
            " Add <serial type='pty'/> (and console=ttyS0 on the guest's kernel command line)."
        )
    if any(d.get("type") == "pty" for d in devs):
        return None
    kinds = ", ".join(sorted({d.get("type") or "?" for d in devs}))
    return (
        f"{name}'s serial port is a {kinds} device, which a console cannot attach to:"
        " make it <serial type='pty'/>."
    )


def check(conn: libvirt.virConnect, uuid: str) -> str:
    """Raises :class:`SerialError` when the console cannot be opened; returns the name."""
    try:
        dom = conn.lookupByUUIDString(uuid)
        name = dom.name()
        if not dom.isActive():
            raise SerialError(f"{name} is not running: s starts it")
        problem = serial_problem(dom.XMLDesc(0), name)
    except libvirt.libvirtError as exc:
        raise SerialError(exc.get_error_message() or str(exc)) from exc
    if problem:
        raise SerialError(problem)
    return name


def with_command(uri: str, ssh: str) -> str:
    """``uri`` with ``command=ssh`` (libvirt's ssh transport runs it instead of ``ssh``)."""
    parts = urlsplit(uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("command", ssh)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/~")))


def command(
    uri: str | None, uuid: str, ssh_command: Callable[[str | None], str | None] | None = None
) -> tuple[list[str], dict[str, str]]:
    """``virsh console`` for the guest: (argv, environment). The URI is in the environment.
    ``ssh_command``: the ssh program for an ssh URI, or None (blocks while it starts the
    host's shared connection)."""
    virsh = shutil.which("virsh")
    if virsh is None:
        raise SerialError("virsh is missing: apt-get install libvirt-clients")
    env = {k: v for k, v in os.environ.items() if k != "VIRSH_DEFAULT_CONNECT_URI"}
    real = with_no_tty(uri)
    ssh = ssh_command(uri) if ssh_command is not None and real else None
    if real and ssh:
        real = with_command(real, ssh)
    if real:
        env["LIBVIRT_DEFAULT_URI"] = real  # else libvirt's default, as for kvmdeck's own
    return [virsh, "console", "--domain", uuid], env
