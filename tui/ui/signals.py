"""SIGHUP, SIGTERM and SIGINT: leave through the app's normal exit, and clean up whatever happens.

:func:`install` (called once on the event loop, from ``App.on_mount`` or later) sets handlers that

1. on SIGHUP with the terminal really gone, point fds 0-2 at ``/dev/null`` at once, so every
   later write (Textual's restore sequence, error output, Python's final flush) succeeds
   instead of raising EIO/EPIPE; a ``kill -HUP`` with a live terminal restores it normally;
2. ask the app to exit through its normal path (``app.exit(return_code=128+signum)`` on the
   loop, via ``call_soon_threadsafe``): Textual's driver leaves the alternate screen, turns
   mouse reporting off, shows the cursor; the app's unmount closes the viewers (unless
   ``keep_viewers``) and tunnels and removes the private directory;
3. escalate when the loop does not get there: a second signal, or a watchdog
   :data:`WATCHDOG_S` after the first, cleans up synchronously (launcher, terminal) and ends
   the process with ``os._exit(128+signum)``.

Why ``signal.signal`` and not ``loop.add_signal_handler``: a loop callback runs only when the
loop turns, so a second SIGTERM could never reach a stuck loop. A Python-level handler runs
on the main thread at the next bytecode even while the loop is blocked in Python code (a lock,
a full queue); the normal path still goes through the loop. Limit: a main thread stuck inside
a C call (a libvirt call on the loop) runs no Python handler at all; then only SIGKILL ends
the process, and the next start sweeps its private directory (viewers stay orphaned).

It also makes the terminal driver's writes hangup-proof (:func:`tui.ui.compat.guard_driver_output`),
and registers an ``atexit`` cleanup. (The sweep of private directories left by a kvmdeck
killed with ``kill -9`` runs from ``tui.cli.main``: the UI does not import the adapters.)
:func:`finish` is called once ``app.run()`` has returned. Nothing is installed for a headless
app (tests under Pilot keep pytest's own handlers).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import logging
import os
import signal
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from tui.ui import compat

if TYPE_CHECKING:
    from textual.app import App

    from tui.core.ports import ViewerLauncher

log = logging.getLogger(__name__)

HANDLED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
WATCHDOG_S = 10.0  # first signal → exit not done by then: clean up synchronously and _exit
EMERGENCY_GRACE_S = 0.5  # SIGTERM → SIGKILL for the viewers on the emergency path

# What Textual's LinuxDriver.stop_application_mode writes (and mouse off), for the emergency path.
RESTORE = (
    "\x1b[<u"  # pop the kitty keyboard protocol
    "\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"  # mouse reporting off
    "\x1b[?2004l"  # bracketed paste off
    "\x1b[?1004l"  # focus events off
    "\x1b[?7h"  # line wrap on
    "\x1b[?1049l"  # leave the alternate screen
    "\x1b[?25h"  # show the cursor
)

LauncherGetter = Callable[[], "ViewerLauncher | None"]


@dataclass
class _Installed:
    app: App[int]  # kvmdeck's (its exit code)
    loop: asyncio.AbstractEventLoop
    launcher_getter: LauncherGetter
    keep_viewers: bool
    signalled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    first: tuple[float, int] | None = None  # (monotonic, signum) of the first signal
    detached: bool = False  # fds 0-2 point at /dev/null (the terminal hung up)


_state: _Installed | None = None


def install(app: App[int], launcher_getter: LauncherGetter, keep_viewers: bool) -> None:
    """Install the handlers (once per process; on the main thread, with the loop running).

    ``launcher_getter`` returns the app's launcher, or None if none was made (no viewer yet):
    it must not create one.
    """
    global _state
    if _state is not None or app.is_headless:
        return
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("signals.install must run on the main thread")
    loop = asyncio.get_running_loop()
    guarded = compat.guard_driver_output(app)
    _state = _Installed(app, loop, launcher_getter, keep_viewers)
    for sig in HANDLED:
        signal.signal(sig, _on_signal)
    atexit.register(_at_exit)
    threading.Thread(
        target=_watchdog, args=(_state,), name="kvmdeck-exit-watchdog", daemon=True
    ).start()
    log.debug("signal handlers installed (driver output guarded: %s)", guarded)


def finish() -> None:
    """``app.run()`` has returned: clean up what is left (usually nothing) and stand down the
    watchdog. Signals after this clean up synchronously and exit at once."""
    state = _state
    if state is None:
        return
    state.finished.set()
    _cleanup_launcher(state, grace_s=None)


# -- the handler -----------------------------------------------------------------------------
def _on_signal(signum: int, _frame: FrameType | None) -> None:
    state = _state
    if state is None:  # pragma: no cover - handlers are only set with a state
        return
    if signum == signal.SIGHUP and not state.detached and not _terminal_alive():
        _detach_from_terminal(state)
    now = time.monotonic()
    if state.finished.is_set() or state.loop.is_closed():
        _emergency(state, signum, "signal after exit")
        return
    if state.first is not None:
        if signum == signal.SIGHUP:
            return  # a hangup can deliver SIGHUP more than once; the watchdog covers a stuck exit
        _emergency(state, signum, "second signal")
        return
    state.first = (now, signum)
    state.signalled.set()
    try:
        # In the app's context (captured at install, on the loop): a signal handler runs in
        # whatever context the main thread was in, and Textual needs its active_app there.
        state.loop.call_soon_threadsafe(_request_exit, state, signum, context=state.context)
    except RuntimeError:  # the loop closed in between
        _emergency(state, signum, "loop closed")


def _request_exit(state: _Installed, signum: int) -> None:
    """On the loop: the app's normal exit, with the conventional 128+signum status."""
    log.info("%s: exiting", signal.Signals(signum).name)
    state.app.exit(return_code=128 + signum)


def _watchdog(state: _Installed) -> None:
    state.signalled.wait()
    if state.finished.wait(WATCHDOG_S):
        return
    first = state.first
    _emergency(
        state, first[1] if first else signal.SIGTERM, f"exit not done after {WATCHDOG_S:g} s"
    )


# -- terminal --------------------------------------------------------------------------------
def _terminal_alive() -> bool:
    """False once the controlling terminal hung up (its ioctls fail with EIO)."""
    for fd in (2, 0, 1):
        try:
            if os.isatty(fd):
                termios.tcgetattr(fd)
                return True
        except termios.error:
            return False
    return False


def _detach_from_terminal(state: _Installed) -> None:
    """Point fds 0-2 at /dev/null: reads see EOF, writes vanish, nothing raises EIO/EPIPE."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    if null > 2:
        os.close(null)
    state.detached = True


def _restore_terminal_now(state: _Installed) -> None:
    if state.detached or not _terminal_alive():
        return
    saved = compat.saved_terminal_attrs(state.app)
    if saved is not None:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(saved[0], termios.TCSANOW, saved[1])
    with contextlib.suppress(OSError):
        os.write(sys.__stderr__.fileno() if sys.__stderr__ else 2, RESTORE.encode())


# -- cleanup ---------------------------------------------------------------------------------
def _cleanup_launcher(state: _Installed, grace_s: float | None) -> None:
    try:
        launcher = state.launcher_getter()
        if launcher is not None:
            launcher.shutdown(keep_viewers=state.keep_viewers, grace_s=grace_s)
    except Exception:  # last resort paths: never raise from here
        log.exception("launcher cleanup failed")


def _emergency(state: _Installed, signum: int, why: str) -> None:
    """The loop did not get the app out: clean up synchronously, restore the terminal, exit."""
    log.warning("%s (%s): cleaning up synchronously", signal.Signals(signum).name, why)
    _cleanup_launcher(state, grace_s=EMERGENCY_GRACE_S)
    _restore_terminal_now(state)
    for handler in logging.getLogger("tui").handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(128 + signum)


def _at_exit() -> None:
    state = _state
    if state is not None:
        state.finished.set()
        _cleanup_launcher(state, grace_s=None)
