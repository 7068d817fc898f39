"""Which guest actions apply to a guest in its state now, and why not: pure rules, shared by
the main and detail screens ("web is already running" instead of libvirt's raw error)."""

from __future__ import annotations

from tui.model.fleet import PENDING_SHUTDOWN, Guest
from tui.model.guest import GuestState


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 guest``, ``2 guests``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def guest_refusal(g: Guest, verb: str, viewer_pid: int | None = None) -> str | None:
    """Why ``verb`` (start, shutdown, reboot, pause, destroy, console) cannot apply to ``g``
    in its state now, or None. Short, plain text: "web is already running"."""
    s = g.sample
    name = g.name
    state = g.pending or s.state
    paused = s.state_code == GuestState.PAUSED
    stopping = g.pending == PENDING_SHUTDOWN or s.state_code == GuestState.SHUTDOWN
    if verb == "start":
        if not s.active:
            return None
        if paused:
            return f"{name} is paused: p resumes it"
        if stopping:
            return f"{name} is shutting down"
        return f"{name} is already running" if s.running else f"{name} is already {state}"
    if not s.active:
        if verb == "destroy":
            return f"{name} is already shut off" if s.state == "shut off" else f"{name} is {state}"
        if verb in ("reboot", "console"):
            return f"{name} is {state}: s starts it"
        return f"{name} is {state}"
    if verb == "shutdown":
        if stopping:
            return f"{name} is already shutting down: X forces it off"
        if paused:
            return f"{name} is paused: p resumes it, X forces it off"
    if verb == "reboot":
        if paused:
            return f"{name} is paused: p resumes it"
        if stopping:
            return f"{name} is shutting down"
    if verb == "console" and viewer_pid is not None:
        return (
            f"the console of {name} is already open (remote-viewer, pid {viewer_pid}); w lists it"
        )
    return None
