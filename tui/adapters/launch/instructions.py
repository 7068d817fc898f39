"""Instructions for a session without a display: what the operator runs on their workstation."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tui.adapters.launch.ssh import SshEndpoint, remote_spec
from tui.adapters.launch.usbfilter import viewer_options
from tui.adapters.libvirt.connection import is_remote
from tui.adapters.libvirt.graphics import DisplayTarget
from tui.model.viewers import ClientInstructions
from tui.util import display_available as display_available  # tui.adapters.launch's name
from tui.util import shell_command

# A local session nobody reached over ssh: the workstation's name for this machine is unknown.
THIS_HOST = "THIS-HOST"


def _client_uri(uri: str) -> str:
    """The URI as the workstation should use it: drop this machine's key file and flags."""
    parts = urlsplit(uri)
    drop = {"keyfile", "no_tty", "no_verify", "known_hosts"}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in drop]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/~")))


def _viewer_url(target: DisplayTarget, port: int | None, tls_port: int | None) -> str:
    if target.type == "vnc":
        return f"vnc://127.0.0.1:{port}"
    if port is None:
        return f"spice://127.0.0.1?tls-port={tls_port}"
    if tls_port is not None:
        return f"spice://127.0.0.1:{port}?tls-port={tls_port}"
    return f"spice://127.0.0.1:{port}"


def client_instructions(
    target: DisplayTarget, uri: str | None, env: Mapping[str, str]
) -> ClientInstructions:
    """Commands for the operator's workstation, for a TUI running where no display is.

    For a local URI the server is this machine as the operator reached it: the third field of
    ``$SSH_CONNECTION`` (its fourth is the ssh port), else :data:`THIS_HOST` with a note to
    replace it: libvirt's short host name ("vm") is a guess a workstation may not resolve.
    """
    parts = urlsplit(uri or "qemu:///system")
    if uri and is_remote(uri) and "ssh" in parts.scheme:
        ssh = SshEndpoint.from_uri(uri)
        user, server, ssh_port = ssh.user, ssh.host, ssh.port
        connect_uri = _client_uri(uri)
    else:
        fields = env.get("SSH_CONNECTION", "").split()
        server = fields[2] if len(fields) >= 3 else THIS_HOST
        ssh_port = int(fields[3]) if len(fields) >= 4 and fields[3] != "22" else None
        user = env.get("USER") or env.get("LOGNAME") or getpass.getuser()
        driver = (parts.scheme.split("+")[0] or "qemu") if parts.scheme else "qemu"
        netloc = f"[{server}]" if ":" in server else server
        netloc = f"{user}@{netloc}" + (f":{ssh_port}" if ssh_port else "")
        connect_uri = f"{driver}+ssh://{netloc}{parts.path or '/system'}"

    # SPICE: the workstation's USB devices go to the guest (named ones on connect too).
    usb = viewer_options(target.usb_redirect) if target.type == "spice" else []
    direct = (
        "With virt-viewer (it asks for passwords itself):",
        (shell_command("virt-viewer", *usb, "--connect", connect_uri, name=target.guest),),
    )

    forwards: list[str] = []
    port: int | None
    tls: int | None
    local_port = target.port or target.tls_port or 5900
    if target.socket and not target.port and not target.tls_port:
        forwards += ["-L", f"{local_port}:{target.socket}"]
        port, tls = local_port, None
    else:
        if target.port:
            forwards += ["-L", f"{target.port}:{remote_spec(target, target.port)}"]
        if target.tls_port:
            forwards += ["-L", f"{target.tls_port}:{remote_spec(target, target.tls_port)}"]
        port, tls = target.port, target.tls_port
    ssh_line = ["ssh", "-N", *forwards]
    if ssh_port:
        ssh_line += ["-p", str(ssh_port)]
    ssh_line.append(f"{user}@{server}" if user else server)
    tunnel = (
        "Or with an ssh tunnel (leave it running), then remote-viewer:",
        (
            shell_command(*ssh_line),
            shell_command("remote-viewer", *usb, _viewer_url(target, port, tls)),
        ),
    )

    notes = ["No graphical display here ($DISPLAY and $WAYLAND_DISPLAY are unset)."]
    if server == THIS_HOST:
        notes.append(
            f"{THIS_HOST}: this machine's name or address as your workstation reaches it "
            f"(kvmdeck cannot tell from here; libvirt calls it {target.hostname!r})."
        )
    if target.has_password:
        notes.append(
            "The console has a password; the viewer asks for it. It is not shown here: read it "
            "with " + shell_command("virsh", "dumpxml", "--security-info", name=target.guest) + "."
        )
    elif not target.password_known:
        notes.append("Read-only connection: if the console has a password, the viewer asks.")
    if usb:
        named = ", ".join(f"{v:04x}:{p:04x}" for v, p in target.usb_redirect)
        notes.append(
            "USB: devices you plug in while the viewer is connected go to the guest (not "
            "keyboards or mice)" + (f"; {named} also when already plugged in." if named else ".")
        )
    if target.tls_port:
        notes.append("The display uses TLS: the viewer needs the host's SPICE CA certificate.")
    return ClientInstructions(target.guest, (direct, tunnel), tuple(notes))
