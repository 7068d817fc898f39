"""libvirt's timers on kvmdeck's thread-safe libvirtaio (tui/adapters/libvirt/eventloop.py).

libvirt dispatches queued domain events (a guest's "started") from a timer it arms with
``virEventUpdateTimeout(timer, 0)`` and disarms with ``-1``, from whatever thread made the RPC
call that read them. ``update`` sets the timeout at once and hands the (re)start of the timer's
task to the loop. A timer task that wakes while the timeout reads -1 ends itself; a re-arm that
came before the handed-over update ran found that ended task still set and started none: the
timer never fired again and every later event of the connection stayed queued (CI: a start's
"started" event never came in 30 s while polls went on). Here that interleaving is made on
purpose (the timeout set to -1 the way ``update`` sets it from another thread, the loop turned
so the task sees it) on the real implementation; no libvirt connection is needed for a timer.
"""

from __future__ import annotations

import asyncio

from testbed.wait import until
from tui.adapters.libvirt.eventloop import ThreadSafeImpl


async def test_a_timer_that_ended_itself_is_armed_again() -> None:
    impl = ThreadSafeImpl(asyncio.get_running_loop())
    fired: list[int] = []
    timer = impl._add_timeout(0, lambda iden, _opaque: fired.append(iden), None)
    await until(lambda: fired, "the armed timer to fire", 5)
    callback = impl.callbacks[timer]
    callback.timeout = -1  # what update(-1) does at once from another thread
    await asyncio.sleep(0.05)  # the task wakes, sees -1 and ends itself
    assert callback._task is not None and callback._task.done()
    impl._update_timeout(timer, 0)  # libvirt re-arms it before the handed-over update ran
    fired.clear()
    await until(lambda: fired, "the re-armed timer to fire", 5)
    impl._update_timeout(timer, -1)
    await asyncio.sleep(0.05)
    fired.clear()
    await asyncio.sleep(0.1)
    assert not fired  # disarmed: it stays quiet
    impl._remove_timeout(timer)


async def test_a_removed_timer_never_fires() -> None:
    impl = ThreadSafeImpl(asyncio.get_running_loop())
    fired: list[int] = []
    timer = impl._add_timeout(0, lambda iden, _opaque: fired.append(iden), None)
    await until(lambda: fired, "the armed timer to fire", 5)
    impl._remove_timeout(timer)
    await asyncio.sleep(0.05)
    fired.clear()
    await asyncio.sleep(0.1)
    assert not fired
