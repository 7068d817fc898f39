"""What the UI knows of a viewer kvmdeck started: its state and a snapshot of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ViewerState(enum.Enum):
    STARTING = "starting"
    CONNECTED = "connected"
    FAILED = "failed"  # remote-viewer still runs (it waits for the user): close it
    EXITED = "exited"
    CLOSED = "closed"


@dataclass(frozen=True)
class ViewerInfo:
    """A snapshot of one viewer, safe to hand to the UI."""

    id: int
    guest: str
    title: str
    pid: int
    started: float  # wall clock (time.time())
    state: ViewerState
    detail: str = ""
    tunnel_pid: int | None = None
    connect_s: float | None = None  # spawn → "main channel: opened"

    @property
    def alive(self) -> bool:
        return self.state in (ViewerState.STARTING, ViewerState.CONNECTED, ViewerState.FAILED)
