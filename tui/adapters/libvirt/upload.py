"""A local file into a new volume of a pool through a libvirt stream (``virStorageVolUpload``):
it works the same on a remote host. Progress after each chunk, a cancel between chunks, and a
cancelled or failed upload deletes the volume it made."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import libvirt

from tui.adapters.libvirt.named import msg as _msg
from tui.adapters.libvirt.storage import room_for
from tui.adapters.libvirt.storagexml import sniff_format, volume_xml
from tui.model.backend import BackendError
from tui.model.storage import human_size

CHUNK = 256 * 1024  # upload chunk: progress about 4 times a MiB


def upload(
    conn: libvirt.virConnect,
    p: libvirt.virStoragePool,
    pool: str,
    name: str,
    source: str,
    progress: Callable[[int, int], None],
    cancelled: Callable[[], bool],
) -> str:
    """Send local file ``source`` into a new volume ``name`` of ``pool`` through a libvirt
    stream (works on remote hosts). ``progress(done, total)`` after each chunk;
    ``cancelled()`` is asked between chunks. A cancelled or failed upload deletes the
    volume it made."""
    try:
        total = os.path.getsize(source)
        with open(source, "rb") as f:
            fmt = sniff_format(f.read(4))
    except OSError as exc:
        raise BackendError(f"cannot read {source}: {exc.strerror or exc}") from exc
    if total == 0:
        raise BackendError(f"{source} is empty: choose an image or an ISO")
    try:
        available = room_for(p, pool, name, f"upload to {pool}")
        if total > available:
            raise BackendError(
                f"{os.path.basename(source)} ({human_size(total)}) does not fit in the"
                f" {human_size(available)} free in pool {pool}: free space or choose another pool"
            )
        vol = p.createXML(volume_xml(name, total, fmt, 0), 0)
    except libvirt.libvirtError as exc:
        raise BackendError(f"cannot create volume {name} in {pool}: {_msg(exc)}") from exc

    def sent(done: int) -> None:
        progress(done, total)
        if done < total and cancelled():  # asked before each chunk
            raise _Cancelled()

    try:
        sent(0)
        send_file(conn, vol, source, total, sent, CHUNK)
    except (libvirt.libvirtError, OSError, _Cancelled) as exc:
        removed = _remove_half_made(vol)
        if isinstance(exc, _Cancelled):
            raise BackendError(f"upload of {name} cancelled; {removed}") from None
        why = _msg(exc) if isinstance(exc, libvirt.libvirtError) else str(exc)
        raise BackendError(f"upload of {name} failed: {why}; {removed}") from exc
    return f"{os.path.basename(source)} uploaded to {pool} as {name} ({human_size(total)}, {fmt})"


def send_file(
    conn: libvirt.virConnect,
    vol: libvirt.virStorageVol,
    path: str,
    total: int,
    sent: Callable[[int], None],
    chunk: int,
) -> None:
    """``total`` bytes of the local file ``path`` into ``vol`` through a new libvirt stream
    (``virStorageVolUpload``: the same on a remote host), ``chunk`` bytes at a time;
    ``sent(done)`` after each chunk, and what it raises (a cancel) stops the upload. A file
    that ends early is an OSError naming it. The stream is aborted on any failure; the
    volume is the caller's to remove (storage's upload here, provisioning's undo)."""
    stream = conn.newStream(0)
    try:
        vol.upload(stream, 0, total, 0)
        done = 0
        with open(path, "rb") as f:
            while done < total:
                data = f.read(chunk)
                if not data:  # it shrank meanwhile: never a short volume
                    raise OSError(f"{path} ended early ({done} of {total} bytes)")
                send_all(stream, data)
                done += len(data)
                sent(done)
        stream.finish()
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise


def send_all(stream: libvirt.virStream, data: bytes) -> None:
    """All of ``data`` into ``stream`` (a send may take part of it)."""
    view = memoryview(data)
    while view:
        n = stream.send(view.tobytes())
        if n == -2:  # would block: not for a blocking stream, but be safe
            time.sleep(0.01)
            continue
        if n < 0:
            raise OSError("the stream refused data")
        view = view[n:]


def _remove_half_made(vol: libvirt.virStorageVol) -> str:
    for _ in range(20):  # the stream's end may hold the volume a moment
        try:
            vol.delete(0)
            return "the half-made volume was deleted"
        except libvirt.libvirtError as exc:
            last = _msg(exc)
            time.sleep(0.1)
    return f"deleting the half-made volume failed: {last}; delete it with d"


class _Cancelled(Exception):
    pass
