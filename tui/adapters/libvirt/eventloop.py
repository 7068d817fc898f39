"""libvirt's asyncio event loop (libvirtaio), safe to call from any thread.

libvirt adds, updates and removes its handles (a connection's socket) and timeouts (keepalive,
event dispatch) from whichever thread runs the call: ``libvirt.open`` in a daemon thread adds
them there, a close in a daemon thread removes them there, a poll that notices a dead peer
removes them in the poll thread. libvirtaio does every one of those on the spot: it changes
its dictionaries, calls ``loop.add_reader``/``remove_reader`` and creates asyncio tasks (the
timers, the free callbacks) from that thread, none of which asyncio allows off its loop. With
many connections opening and closing at once (a hung host answering again: every abandoned
``open`` returns together) they raced the loop.

Here the bookkeeping happens at once under a lock (so libvirt gets its watch ids and no
callback of a removed handle or timeout ever runs), and everything that touches asyncio is
handed to the loop with ``call_soon_threadsafe``: an abandoned connection's handles are
removed, and their opaque data freed, on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import libvirt
import libvirtaio

log = logging.getLogger(__name__)


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _later(loop: asyncio.AbstractEventLoop, fn: Any) -> None:
    """``fn`` on the loop; nothing once the loop is closed (the process is ending: libvirt
    still removes the handles of connections closed at exit)."""
    if loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # closed meanwhile
        loop.call_soon_threadsafe(fn)


class _Descriptor(libvirtaio.Descriptor):
    """One fd's callbacks; its reader/writer registration is changed on the loop only."""

    def update(self) -> None:
        loop = self.impl.loop
        if _on(loop):
            self._apply()
        else:
            _later(loop, self._apply)

    def _apply(self) -> None:
        """Make the loop watch what the callbacks of the descriptor that owns the fd *now* want
        (a handed-over update may run after the fd was closed and reused by another one)."""
        impl = self.impl
        current = impl.descriptors.get(self.fd)
        if current is not None and current is not self:
            current._apply_own()
            return
        self._apply_own()

    def _apply_own(self) -> None:
        loop = self.impl.loop
        events = 0
        for cb in list(self.callbacks.values()):
            events |= cb.event or 0
        if events & libvirt.VIR_EVENT_HANDLE_READABLE:
            loop.add_reader(self.fd, self._handle, libvirt.VIR_EVENT_HANDLE_READABLE)
        else:
            loop.remove_reader(self.fd)
        if events & libvirt.VIR_EVENT_HANDLE_WRITABLE:
            loop.add_writer(self.fd, self._handle, libvirt.VIR_EVENT_HANDLE_WRITABLE)
        else:
            loop.remove_writer(self.fd)


class _Descriptors(libvirtaio.DescriptorDict):
    def __missing__(self, fd: int) -> libvirtaio.Descriptor:
        descriptor = _Descriptor(self.impl, fd)
        self[fd] = descriptor
        return descriptor


class _Timeout(libvirtaio.TimeoutCallback):
    """A timer whose task is started and cancelled on the loop, and that never fires after
    libvirt removed it."""

    removed = False

    def update(self, timeout: int) -> None:
        self.timeout = timeout
        loop = self.impl.loop
        if _on(loop):
            self._apply()
        else:
            _later(loop, self._apply)

    def _apply(self) -> None:
        task: asyncio.Future[None] | None = getattr(self, "_task", None)
        if task is not None and task.done():  # it ended itself (saw timeout < 0): gone
            task = self._task = None
        if self.timeout >= 0 and not self.removed and task is None:
            self._task = asyncio.ensure_future(self._timer(), loop=self.impl.loop)
        elif (self.timeout < 0 or self.removed) and task is not None:
            task.cancel()
            self._task = None

    async def _timer(self) -> None:
        while not self.removed:
            try:
                await asyncio.sleep(self.timeout * 1e-3 if self.timeout > 0 else 0)
            except asyncio.CancelledError:
                break
            if self.removed or self.timeout < 0:
                break
            self.cb(self.iden, self.opaque)

    def close(self) -> None:
        self.removed = True
        self.update(-1)
        libvirtaio.Callback.close(self)


class ThreadSafeImpl(libvirtaio.virEventAsyncIOImpl):
    """:class:`libvirtaio.virEventAsyncIOImpl` whose six entry points may be called from any
    thread (see the module's docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(loop)
        self.descriptors = _Descriptors(self)
        self._lock = threading.RLock()
        self._ff_tasks: set[asyncio.Future[None]] = set()

    def schedule_ff_callback(self, iden: int, opaque: Any) -> None:
        """libvirt's free callback of a removed handle or timeout: always on the loop, after
        whatever the loop already had to do with it."""

        def start() -> None:
            task = asyncio.ensure_future(self._ff_callback(iden, opaque), loop=self.loop)
            self._ff_tasks.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(self._ff_tasks.discard)

        if _on(self.loop):
            start()
        else:
            _later(self.loop, start)

    def _pending_dec(self) -> None:
        with self._lock:
            super()._pending_dec()

    def _add_handle(self, fd: int, event: int, cb: Any, opaque: Any) -> int:
        with self._lock:
            return super()._add_handle(fd, event, cb, opaque)

    def _update_handle(self, watch: int, event: int) -> None:
        with self._lock:
            callback = self.callbacks.get(watch)
            if callback is None:  # removed meanwhile: nothing to update
                return
            super()._update_handle(watch, event)

    def _remove_handle(self, watch: int) -> int:
        with self._lock:
            return super()._remove_handle(watch)

    def _add_timeout(self, timeout: int, cb: Any, opaque: Any) -> int:
        with self._lock:
            callback = _Timeout(self, cb, opaque)
            self.callbacks[callback.iden] = callback
            callback.update(timeout=timeout)
            self._pending_inc()
            return callback.iden

    def _update_timeout(self, timer: int, timeout: int) -> None:
        with self._lock:
            callback = self.callbacks.get(timer)
            if callback is None:
                return
            callback.update(timeout=timeout)

    def _remove_timeout(self, timer: int) -> int:
        with self._lock:
            return super()._remove_timeout(timer)


def register(loop: asyncio.AbstractEventLoop | None = None) -> libvirtaio.virEventAsyncIOImpl:
    """Register the thread-safe implementation once per process (libvirt allows one), on
    ``loop`` or the running loop; ``libvirtaio.getCurrentImpl()`` returns it afterwards."""
    current = libvirtaio.getCurrentImpl()
    if current is not None:
        return current
    impl = ThreadSafeImpl(loop).register()
    libvirtaio._current_impl = impl  # what virEventRegisterAsyncIOImpl itself sets
    return impl
