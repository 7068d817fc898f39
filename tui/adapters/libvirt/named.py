"""What the storage and networks families share: a host's libvirt objects known by name
(storage pools, networks). Listing (an object undefined meanwhile is left out), lookup by
name, start, stop and autostart, and the check of a new name, with libvirt's errors turned
into :class:`BackendError` sentences that name the object (its :class:`Kind`).

Every function blocks; the families call them inside their ``@counted`` methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeAlias, TypeVar

import libvirt

from tui.model.backend import BackendError
from tui.model.storage import name_problem


def msg(exc: libvirt.libvirtError) -> str:
    return exc.get_error_message() or str(exc)


@dataclass(frozen=True)
class Kind:
    """How messages call one kind of object."""

    noun: str  # "storage pool", "network"
    short: str  # "pool", "network": a new name's problems, autostart's failure
    plural: str  # "storage pools", "networks"


class Named(Protocol):
    @property
    def name(self) -> str: ...


V = TypeVar("V", bound=Named)
T = TypeVar("T")
Lifecycled: TypeAlias = "libvirt.virStoragePool | libvirt.virNetwork"


def listed(kind: Kind, find: Callable[[], Iterable[T]], read: Callable[[T], V]) -> tuple[V, ...]:
    """``read`` of every object ``find`` lists, by name; one undefined meanwhile is left out."""
    try:
        found = find()
    except libvirt.libvirtError as exc:
        raise BackendError(f"cannot list the {kind.plural}: {msg(exc)}") from exc
    out = []
    for o in found:
        try:
            out.append(read(o))
        except libvirt.libvirtError:
            continue  # undefined meanwhile
    return tuple(sorted(out, key=lambda v: v.name))


def lookup(kind: Kind, find: Callable[[str], T], name: str) -> T:
    try:
        return find(name)
    except libvirt.libvirtError as exc:
        raise BackendError(f"{kind.noun} {name} not found: {msg(exc)}") from exc


def free_name(kind: Kind, names: Callable[[], list[str]], name: str) -> list[str]:
    """The names taken (running or defined), once ``name`` is known to be none of them."""
    try:
        taken = names()
    except libvirt.libvirtError as exc:
        raise BackendError(f"cannot list the {kind.plural}: {msg(exc)}") from exc
    problem = name_problem(name, taken, kind.short)
    if problem:
        raise BackendError(f"new {kind.short}: {problem}")
    return taken


def start(kind: Kind, obj: Lifecycled, name: str) -> str:
    try:
        if obj.isActive():
            return f"{kind.noun} {name} is already running"
        obj.create()
    except libvirt.libvirtError as exc:
        raise BackendError(f"cannot start {kind.noun} {name}: {msg(exc)}") from exc
    return f"{kind.noun} {name} started"


def stop(kind: Kind, obj: Lifecycled, name: str, check: Callable[[], None] = lambda: None) -> str:
    """Stop ``obj`` once ``check`` (which raises BackendError to refuse) lets it. A transient
    object is gone after: whether it was is read before."""
    try:
        if not obj.isActive():
            return f"{kind.noun} {name} is already stopped"
        check()
        persistent = bool(obj.isPersistent())
        obj.destroy()
    except libvirt.libvirtError as exc:
        raise BackendError(f"cannot stop {kind.noun} {name}: {msg(exc)}") from exc
    return f"{kind.noun} {name} stopped" + ("" if persistent else " (it was transient: it is gone)")


def set_autostart(kind: Kind, obj: Lifecycled, name: str, on: bool) -> str:
    try:
        obj.setAutostart(1 if on else 0)
    except libvirt.libvirtError as exc:
        raise BackendError(f"cannot change autostart of {kind.short} {name}: {msg(exc)}") from exc
    return f"{kind.noun} {name} {'starts' if on else 'no longer starts'} with the host"
