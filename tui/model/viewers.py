"""What the UI knows of a viewer kvmdeck started (its state and a snapshot of it), and what
opening a console gives: a viewer started, or the commands for the operator's workstation."""

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


@dataclass(frozen=True)
class ViewerOpened:
    """A viewer started; ``viewer.state`` says whether it connected within the wait."""

    viewer: ViewerInfo
    elapsed_s: float  # call → connected/failed (or the wait's end)

    @property
    def message(self) -> str:
        v = self.viewer
        if v.state is ViewerState.CONNECTED:
            return f"Console of {v.guest} open (pid {v.pid}, {self.elapsed_s:.1f} s)."
        if v.state is ViewerState.FAILED:
            return f"Console of {v.guest}: {v.detail or 'connection failed'} (pid {v.pid})."
        if v.state is ViewerState.EXITED:
            return f"Console of {v.guest}: remote-viewer exited {v.detail}".rstrip() + "."
        return f"Console of {v.guest}: remote-viewer is starting (pid {v.pid})."


@dataclass(frozen=True)
class ClientInstructions:
    """What the operator runs on their own workstation (never holds the password)."""

    guest: str
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (heading, command lines)
    notes: tuple[str, ...] = ()

    @property
    def commands(self) -> list[str]:
        return [line for _, lines in self.options for line in lines]

    @property
    def text(self) -> str:
        """Ready to paste into a shell: headings as comments, then the commands."""
        out: list[str] = []
        for heading, lines in self.options:
            out.append(f"# {heading}")
            out.extend(lines)
        return "\n".join(out)


ConsoleResult = ViewerOpened | ClientInstructions  # what opening a graphical console gives
