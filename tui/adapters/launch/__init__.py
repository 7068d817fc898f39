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

Importing this package is cheap: its names load on first use (``__getattr__`` below), so
``tui.adapters.launch.privdir`` (the start-up sweep) does not pull in libvirt or the launcher.

Modules: :mod:`~tui.adapters.launch.console` (:func:`open_console`), :mod:`~tui.adapters.launch.viewers`
(:class:`Launcher`), :mod:`~tui.adapters.launch.vvfile` (the ``.vv`` file), :mod:`~tui.adapters.launch.ssh`
(:class:`SshEndpoint`, tunnels), :mod:`~tui.adapters.launch.instructions` (:class:`ClientInstructions`),
:mod:`~tui.adapters.launch.privdir` (the private directory and the sweep of stale ones).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "ClientInstructions": "tui.adapters.launch.instructions",
    "DisplayError": "tui.adapters.libvirt.graphics",
    "LaunchError": "tui.adapters.launch.errors",
    "Launcher": "tui.adapters.launch.viewers",
    "SshEndpoint": "tui.adapters.launch.ssh",
    "ViewerInfo": "tui.adapters.launch.viewers",
    "ViewerOpened": "tui.adapters.launch.console",
    "ViewerState": "tui.adapters.launch.viewers",
    "classify_log_line": "tui.adapters.launch.viewers",
    "client_instructions": "tui.adapters.launch.instructions",
    "display_available": "tui.adapters.launch.instructions",
    "free_local_port": "tui.adapters.launch.ssh",
    "open_console": "tui.adapters.launch.console",
    "private_dir": "tui.adapters.launch.vvfile",
    "vv_text": "tui.adapters.launch.vvfile",
    "write_vv": "tui.adapters.launch.vvfile",
}

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


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562) and keep it as a module attribute."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
