"""A family's way to its host's connection: every call counted for its whole duration.

:meth:`tui.adapters.libvirt.host.LibvirtHost.using` yields the connection and counts the call
until the block ends; a close waits for the count to reach 0 before it frees the connection
(issue 24: a ``virConnectClose`` under a call in flight is a use-after-free in libvirt.so).
The storage, networks and provisioning families take such a ``using`` factory. Their public
methods are wrapped in :func:`counted`: the call holds the connection from start to end (an
upload or a clone too; the close, in a daemon thread nobody waits for, waits for the copy),
and :meth:`Held.conn` inside gives that held connection. Nested counted calls on one thread
reuse the outer hold. Tests that own a bare connection pass :func:`fixed` ``(conn)``.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import libvirt

from tui.model.backend import BackendError

Using = Callable[[], AbstractContextManager[libvirt.virConnect]]

P = ParamSpec("P")
R = TypeVar("R")


def fixed(conn: libvirt.virConnect) -> Using:
    """A ``using`` for a connection the caller owns and closes itself (tests, the CLI)."""
    return lambda: contextlib.nullcontext(conn)


class Held:
    """The connection held by the counted call running on this thread."""

    def __init__(self, using: Using) -> None:
        self._using = using
        self._local = threading.local()

    def hold(self) -> AbstractContextManager[libvirt.virConnect]:
        return _Hold(self)

    def conn(self) -> libvirt.virConnect:
        """The connection of the counted call in progress on this thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:  # a method that is not @counted: a bug, not a lost host
            raise BackendError("not connected (a call outside a counted one)")
        return conn


class _Hold:
    """One counted block. Not a generator: contextlib's generator managers set
    ``__traceback__`` on what passes through them, which a frozen dataclass exception
    (``XmlDefineFailed``) refuses; and ``using`` is left without the exception (it counts)."""

    def __init__(self, held: Held) -> None:
        self._held = held
        self._outer: AbstractContextManager[libvirt.virConnect] | None = None

    def __enter__(self) -> libvirt.virConnect:
        local = self._held._local
        conn: libvirt.virConnect | None = getattr(local, "conn", None)
        if conn is not None:  # nested in a counted call on this thread: already counted
            return conn
        outer = self._held._using()
        conn = outer.__enter__()
        self._outer = outer
        local.conn = conn
        return conn

    def __exit__(self, *_exc: object) -> None:
        outer, self._outer = self._outer, None
        if outer is not None:
            self._held._local.conn = None
            leave_quietly(outer)


def leave_quietly(cm: AbstractContextManager[object]) -> None:
    """Leave a counting manager without handing it the block's exception (see _Hold)."""
    cm.__exit__(None, None, None)


class HasHeld(Protocol):
    _held: Held


S = TypeVar("S", bound=HasHeld)


def counted(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Hold the connection for the whole method (``self._held``)."""

    @functools.wraps(fn)
    def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._held.hold():
            return fn(self, *args, **kwargs)

    return wrapper


__all__ = ["Held", "Using", "counted", "fixed", "leave_quietly"]
