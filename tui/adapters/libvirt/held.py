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
from collections.abc import Callable, Iterator
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

    @contextlib.contextmanager
    def hold(self) -> Iterator[libvirt.virConnect]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:  # nested in a counted call on this thread: already counted
            yield conn
            return
        with self._using() as conn:
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    def conn(self) -> libvirt.virConnect:
        """The connection of the counted call in progress on this thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:  # a method that is not @counted: a bug, not a lost host
            raise BackendError("not connected (a call outside a counted one)")
        return conn


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


__all__ = ["Held", "Using", "counted", "fixed"]
