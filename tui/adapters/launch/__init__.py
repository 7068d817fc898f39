"""Starting and tracking the external programs kvmdeck runs: remote-viewer and ssh tunnels.

This is the only package that starts other programs (an import-linter contract keeps textual out).

How a console opens (:func:`open_console`, called from a thread worker):

1. ``tui.adapters.libvirt.graphics`` reads the live XML: protocol, address, port, password.
2. No ``$DISPLAY``/``$WAYLAND_DISPLAY`` (the usual SSH session): nothing starts. The caller gets
   :class:`ClientInstructions`, the commands the operator runs on their workstation.
3. Otherwise a ``.vv`` file (mode 0600, ``delete-this-file=1``) is written to a private
   directory and ``remote-viewer --debug FILE`` starts detached, its output going to a log file
   the :class:`Launcher` watches for "main channel: opened" or a failure. The password lives
   only in that file: never on a command line, never in a log.

Remote hypervisors (``qemu+ssh://``): the display listens on the remote host's loopback, so
the launcher starts an ``ssh -N -L`` tunnel (see :meth:`SshEndpoint.tunnel_argv` for why a
tunnel rather than ``virt-viewer --connect``) and points the ``.vv`` at the local end.

Modules: :mod:`~tui.adapters.launch.console` (:func:`open_console`), :mod:`~tui.adapters.launch.viewers`
(:class:`Launcher`), :mod:`~tui.adapters.launch.vvfile` (the ``.vv`` file), :mod:`~tui.adapters.launch.ssh`
(:class:`SshEndpoint`, tunnels), :mod:`~tui.adapters.launch.instructions` (:class:`ClientInstructions`).
"""

from __future__ import annotations

from tui.adapters.launch.console import ViewerOpened, open_console
from tui.adapters.launch.errors import LaunchError
from tui.adapters.launch.instructions import (
    ClientInstructions,
    client_instructions,
    display_available,
)
from tui.adapters.launch.ssh import SshEndpoint, free_local_port
from tui.adapters.launch.viewers import Launcher, ViewerInfo, ViewerState, classify_log_line
from tui.adapters.launch.vvfile import private_dir, vv_text, write_vv
from tui.adapters.libvirt.graphics import DisplayError

__all__ = [
    "ClientInstructions",
    "DisplayError",
    "LaunchError",
    "Launcher",
    "SshEndpoint",
    "ViewerInfo",
    "ViewerOpened",
    "ViewerState",
    "classify_log_line",
    "client_instructions",
    "display_available",
    "free_local_port",
    "open_console",
    "private_dir",
    "vv_text",
    "write_vv",
]
