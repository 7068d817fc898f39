"""The launcher's records of what it started: a prepared ``.vv`` (and tunnel), and a viewer."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tui.adapters.launch.sshmux import Forward
from tui.adapters.launch.vvfile import Endpoint
from tui.adapters.libvirt.graphics import DisplayTarget
from tui.model.viewers import ViewerInfo, ViewerState

# A viewer's tunnel: its forwards on the host's ssh master (sshmux), or an ssh of its own.
Tunnel = subprocess.Popen[bytes] | Forward


@dataclass
class Prepared:
    """A written ``.vv`` (and a started tunnel, if remote), not yet handed to remote-viewer."""

    target: DisplayTarget
    vv_path: Path
    endpoint: Endpoint
    tunnel: Tunnel | None = None
    tunnel_log: Path | None = None


@dataclass
class _Viewer:
    id: int
    target: DisplayTarget
    proc: subprocess.Popen[bytes]
    log_path: Path
    vv_path: Path
    started: float
    spawned: float  # monotonic
    tunnel: Tunnel | None = None
    tunnel_log: Path | None = None
    state: ViewerState = ViewerState.STARTING
    detail: str = ""
    connect_s: float | None = None
    offset: int = 0
    partial: str = field(default="", repr=False)

    def info(self) -> ViewerInfo:
        return ViewerInfo(
            id=self.id,
            guest=self.target.guest,
            title=self.target.title,
            pid=self.proc.pid,
            started=self.started,
            state=self.state,
            detail=self.detail,
            tunnel_pid=self.tunnel.pid if self.tunnel else None,
            connect_s=self.connect_s,
        )
