"""Small features the app owns, kept out of the app shell: the virtualization probe (header
badge and the doctor screen), the consoles (the launcher and its viewers), and quiet toasts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from textual.app import App
from textual.notifications import Notify, SeverityLevel

from tui.core.ports import ViewerLauncher
from tui.model.fleet import Change
from tui.model.viewers import ViewerInfo, ViewerState
from tui.util import terminal_safe

if TYPE_CHECKING:
    from collections.abc import Callable

    from tui.model.ids import GuestKey
    from tui.model.vt import VtReport
    from tui.ui.app import KvmDeckApp

log = logging.getLogger(__name__)


class VtProbe:
    """The header badge and the doctor screen's report; probed off the loop, once."""

    def __init__(self, app: KvmDeckApp, badge: str | None) -> None:
        self.app = app
        self.injected = badge is not None
        self.badge = badge or "KVM: probing…"
        self.report: VtReport | None = None
        self.probing = False

    def start(self) -> None:
        app = self.app
        if self.injected or self.probing or app.runner is None:
            return
        uri = app.host_order[0].libvirt_uri if app.host_order else None
        if app.services.is_test_uri(uri):
            uri = None  # the demo describes this machine's KVM, not the test driver's
        self.probing = True

        def failed(exc: BaseException) -> bool:
            log.error("virtualization probe failed", exc_info=exc)
            self._set(f"KVM: unknown ({exc})", None)
            return True

        app.runner.submit(
            "virtualization probe",
            lambda: app.services.vt_probe(uri),
            done=lambda report: self._set(report.badge, report),
            failed=failed,
        )

    def _set(self, badge: str, report: VtReport | None) -> None:
        self.probing = False
        self.badge = badge
        self.report = report
        self.app.changed(Change(link=True))  # the doctor screen opens only with a report

    def show(self) -> None:
        """The `d` key: the doctor screen, or "still running" (and a retry after a failure)."""
        app = self.app
        if self.report is None:
            app.notify("Virtualization checks are still running…", timeout=3)
            if app.options.live:
                app.start_deferred()
                self.start()
            return
        from tui.ui.screens.doctor import DoctorScreen

        app.push_screen(DoctorScreen(self.report))


class Consoles:
    """The one launcher of external programs (remote-viewer, ssh tunnels), made on first use."""

    def __init__(self, app: KvmDeckApp) -> None:
        self.app = app
        self.current: ViewerLauncher | None = None

    @property
    def launcher(self) -> ViewerLauncher:
        if self.current is None:
            app = self.app
            assert app.services.launcher is not None
            self.current = app.services.launcher(
                on_change=self._changed, keep_viewers=app.settings.keep_viewers
            )
        return self.current

    def _changed(self, info: ViewerInfo) -> None:
        """From the launcher's watcher thread: a message hops to the loop (never blocks)."""
        from tui.ui.messages import ViewerChanged

        self.app.post_message(ViewerChanged(info))

    def log(self, info: ViewerInfo) -> None:
        if info.state in (ViewerState.FAILED, ViewerState.EXITED):
            state = info.state.value
            self.app.log_event(f"viewer of {info.guest} (pid {info.pid}): {state} {info.detail}")

    def show(self) -> None:
        from tui.ui.screens.console import ViewersScreen

        self.app.push_screen(ViewersScreen(self.launcher))

    def shutdown(self) -> None:
        launcher, self.current = self.current, None
        if launcher is not None:
            launcher.shutdown(keep_viewers=self.app.settings.keep_viewers)


class QuietToasts(App[int]):
    """Toasts one at a time and short: Textual 8.2.8's toast rack has no limit of its own, and
    piled-up toasts hide the event log (which has every message anyway)."""

    NOTIFICATION_TIMEOUT = 3.0
    _unwatch_log: Callable[[], None] | None = None  # set while the --log file is watched
    NOTIFY_MAX_S: dict[str, float] = {"information": 3.0, "warning": 5.0, "error": 8.0}

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's notify, with the timeout capped by severity (:data:`NOTIFY_MAX_S`), and
        its text terminal-safe (names, errors and device strings come from outside)."""
        message, title = terminal_safe(message, multiline=True), terminal_safe(title)
        cap = self.NOTIFY_MAX_S.get(severity, self.NOTIFICATION_TIMEOUT)
        timeout = cap if timeout is None else min(timeout, cap)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def watch_log_failures(self) -> None:
        """The ``--log`` file stops taking lines (a full disk): one notice and one event-log
        line, never ``--- Logging error ---`` over the screen (tui/logsetup.py)."""
        from tui import logsetup

        loop = asyncio.get_running_loop()

        def failed(text: str) -> None:  # any thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
                loop.call_soon_threadsafe(self._log_failed, text)

        self._unwatch_log = logsetup.on_write_failure(failed)

    def unwatch_log_failures(self) -> None:
        if self._unwatch_log is not None:
            self._unwatch_log()

    def _log_failed(self, text: str) -> None:
        if not self.is_running:
            return
        self.notify(text, title="log file", severity="error", timeout=8, markup=False)
        self.log_event(text)

    def log_event(self, text: str, wall: float | None = None, key: GuestKey | None = None) -> None:
        """The event log (the app's)."""

    def on_notify(self, _event: Notify) -> None:
        """Runs before Textual's own handler adds the new notification: the toast shown goes,
        so they never pile up over the event log."""
        self.clear_notifications()
