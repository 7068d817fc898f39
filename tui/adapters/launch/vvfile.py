"""The ``.vv`` file remote-viewer reads, and the private directory it is written to.

The file holds the display's password, so it is created 0600 (``O_CREAT|O_EXCL``) in a 0700
directory and carries ``delete-this-file=1``: the password is never on a command line or in a log.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tui.adapters.launch.privdir import make_private_dir
from tui.adapters.launch.usbfilter import auto_filter
from tui.adapters.libvirt.graphics import DisplayTarget


def private_dir(env: Mapping[str, str]) -> Path:
    """A new private directory for this process: ``kvmdeck-<pid>-XXXXXXXX`` (0700).

    Under ``$XDG_RUNTIME_DIR/kvmdeck`` when usable, else the temp dir; see
    :mod:`tui.adapters.launch.privdir` (which also sweeps those left by a killed kvmdeck).
    """
    return make_private_dir(env)


def _keyfile_escape(value: str) -> str:
    """GKeyFile value escaping (the .vv format is a GLib key file)."""
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return "\\s" + out[1:] if out.startswith(" ") else out


@dataclass(frozen=True)
class Endpoint:
    """Where the viewer connects, from *this* machine (a tunnel's local end for remote hosts)."""

    host: str | None
    port: int | None
    tls_port: int | None = None
    socket: str | None = None

    @classmethod
    def of(cls, target: DisplayTarget) -> Endpoint:
        return cls(target.host, target.port, target.tls_port, target.socket)


def vv_text(target: DisplayTarget, endpoint: Endpoint | None = None) -> str:
    """The ``[virt-viewer]`` file for ``target`` (holds the password: write it 0600)."""
    ep = endpoint or Endpoint.of(target)
    lines = ["[virt-viewer]", f"type={target.type}"]
    if ep.socket:
        lines.append(f"unix-path={_keyfile_escape(ep.socket)}")
    else:
        lines.append(f"host={_keyfile_escape(ep.host or '127.0.0.1')}")
        if ep.port is not None:
            lines.append(f"port={ep.port}")
        if ep.tls_port is not None:
            lines.append(f"tls-port={ep.tls_port}")
    if target.password:
        lines.append(f"password={_keyfile_escape(target.password)}")
    lines.append(f"title={_keyfile_escape(target.title)}")
    if target.type == "spice":
        # USB redirection from the viewer's side: devices plugged in while connected go to
        # the guest (the named ones, no keyboard or mouse, then any). remote-viewer has no .vv
        # key for "redirect on connect": the launcher passes that as an option.
        lines += ["enable-usb-autoshare=1", f"usb-filter={auto_filter(target.usb_redirect)}"]
    lines += ["delete-this-file=1", ""]
    return "\n".join(lines)


def write_vv(target: DisplayTarget, directory: Path, endpoint: Endpoint | None = None) -> Path:
    """Create a new ``.vv`` file, mode 0600 from the start (``O_CREAT|O_EXCL``), and return it."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", target.guest)[:64] or "guest"
    path = Path(directory) / f"{stem}-{secrets.token_hex(4)}.vv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(vv_text(target, endpoint))
    return path
