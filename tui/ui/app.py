"""The kvmdeck App: a shell that wires the core to the screens.

It owns the Fleet (the one state store), one HostController per host, the runner for blocking
work, and the features made on first use (launcher, doctor, USB). Callbacks apply results to the
fleet on the loop; screens render the merged change once per frame. Nothing here blocks (quit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from textual.actions import ActionParseResult
from textual.app import App
from textual.dom import DOMNode
from textual.timer import Timer

from tui.config import Settings
from tui.core.controller import HostController, HostListener
from tui.core.ports import HostSampler, Services
from tui.core.runner import Runner
from tui.keys import expand_keymap
from tui.model.events import DeviceEvent, LifecycleEvent
from tui.model.fleet import Change, Fleet
from tui.model.host import HostSample, PollResult
from tui.model.ids import GuestKey, HostId
from tui.model.link import LinkReport, LinkState
from tui.ui import actions, compat
from tui.ui import messages as m
from tui.ui.bulk import Batch, bulk_result
from tui.ui.commands import GuestCommands
from tui.ui.deck import DeckCommands, LiveScreen
from tui.ui.features import Consoles, QuietToasts, VtProbe
from tui.ui.guest_actions import GuestActions
from tui.ui.screens.main import MainScreen
from tui.ui.widgets.guest_table import GuestTable
from tui.ui.widgets.hosts_bar import HOST_LINES
from tui.ui.workers import ErrorHandler, make_runner

if TYPE_CHECKING:
    from tui.core.prefetch import Prefetch
    from tui.ui.usb_feature import UsbFeature

log = logging.getLogger(__name__)

# The render watchdog: changes that waited this long for their frame, or polls held this long
# for the host sample they wait for, mean the pipeline stalled. Said in the log and on screen,
# then drawn anyway: the screen never shows old data as if it were live.
STALL_S = 3.0
WATCHDOG_S = 1.0
# Polls (50 hosts: 50 a second, one by one) render merged, at most once per RENDER_GAP_S;
# anything else (an action, a link, a log line) at the next turn, taking waiting polls along.
RENDER_GAP_S = 0.2


def css_paths() -> list[str | PurePath]:
    """The wheel ships styles as tui/styles; an editable install finds ../styles."""
    pkg = Path(__file__).resolve().parent.parent  # tui/
    for base in (pkg / "styles", pkg.parent / "styles"):
        if (base / "app.tcss").exists():
            return [base / "app.tcss"]
    raise FileNotFoundError(f"kvmdeck's styles are missing (looked in {pkg / 'styles'})")


@dataclass
class AppOptions:
    uris: list[str | None] = field(default_factory=lambda: [None])
    readonly: bool = False
    demo: bool = False
    settings: Settings = field(default_factory=Settings)
    refresh: float | None = None
    live: bool = True  # False: start no sources (snapshot tests apply results themselves)
    vt_badge: str | None = None  # injected badge (tests); otherwise probed
    host_labels: list[str] | None = None  # injected host names (tests)
    prefetched: dict[HostId, Prefetch] = field(default_factory=dict)


class KvmDeckApp(DeckCommands, QuietToasts, App[int]):
    TITLE = "kvmdeck"
    CSS_PATH = css_paths()
    COMMANDS = App.COMMANDS | {GuestCommands}
    BINDINGS = actions.bindings("global")  # ?, Ctrl+C (quits, as in htop), Ctrl+P

    def __init__(self, options: AppOptions | None, services: Services) -> None:
        super().__init__(driver_class=compat.input_driver())  # Esc: see compat
        self.options = options or AppOptions()
        self.services = services
        self.settings = self.options.settings
        self.refresh_s = self.options.refresh or self.settings.refresh
        self.readonly = self.options.readonly or self.settings.readonly
        self.fleet = Fleet()
        self.controllers: dict[HostId, HostController] = {}
        self.host_order: list[HostId] = []
        self.batches: list[Batch] = []  # bulk actions waiting for their guests' results
        self.vt = VtProbe(self, self.options.vt_badge)
        self.consoles = Consoles(self)
        self.guests = GuestActions(self)  # lifecycle keys and consoles, by GuestKey
        self.errors = ErrorHandler(
            self.log_event, lambda text: self.notify(text, severity="error", markup=False)
        )
        self.runner: Runner | None = None
        self.usb: UsbFeature | None = None
        self._sampler: HostSampler | None = None
        self._deferred_started = self._sampling = False
        self._pending: list[Change] = []
        self._render_queued = False  # a _render_pending call is scheduled
        self._render_timer: Timer | None = None  # paced changes wait for it (RENDER_GAP_S)
        self._rendered_at = 0.0  # monotonic time of the last render
        self._pending_since: float | None = None  # when the oldest unrendered change came
        self._held: list[tuple[HostId, int, PollResult]] = []  # polls awaiting the host sample
        self._held_since: float | None = None
        self._sampling_since = 0.0
        self.stalls = 0  # times the watchdog found the pipeline stalled (tests, bench)
        self._stalls_open: set[str] = set()  # kinds of stall already reported
        self._loop_thread = threading.get_ident()  # the loop's, set again in main_ready
        self._host_timer: Timer | None = None
        labels = self.options.host_labels or []
        named = {h.uri: h.name for h in self.settings.hosts if h.name}
        for i, uri in enumerate(self.options.uris):
            host = HostId.of(uri)
            shown = services.display_uri(uri).split("?", 1)[0]  # never a key path
            label = labels[i] if i < len(labels) else named.get(uri or "") or host.short
            self.fleet.add_host(host, label, shown)
            self.host_order.append(host)
        # DEMO only when every host is the test driver: one test:/// host beside real ones is
        # not a demo session.
        self.is_demo = self.options.demo or all(services.is_test_uri(u) for u in self.options.uris)
        if self.settings.keymap:
            self.set_keymap(expand_keymap(self.settings.keymap))  # guest.X rebinds detail.X

    # -- composition ---------------------------------------------------------------------
    def get_default_screen(self) -> MainScreen:
        self.main_screen = MainScreen(show_host_column=len(self.host_order) > 1)
        return self.main_screen

    @property
    def table(self) -> GuestTable:
        return self.main_screen.table

    def on_mount(self) -> None:
        """SIGHUP, SIGTERM and SIGINT leave through the normal exit (needs the driver)."""
        from tui.ui import signals

        signals.install(self, lambda: self.consoles.current, self.settings.keep_viewers)

    def main_ready(self) -> None:
        """The main screen is mounted: start the sources (called by MainScreen.on_mount)."""
        self.runner = make_runner(self.errors)
        self.watch_log_failures()  # a full disk under --log: one notice (needs the event log)
        self._loop_thread = threading.get_ident()
        if self.services.usb is not None:
            from tui.ui.usb_feature import UsbFeature

            self.usb = UsbFeature(
                self, self.services.usb, self.readonly, self.settings, fleet=self.fleet
            )
            self.usb.mount()
        listener = HostListener(
            link=self._on_link,
            polled=self._on_polled,
            poll_failed=lambda h, error: self.log_event(
                f"stats failed on {self.label(h)}: {error}"
            ),
            lifecycle=self._on_lifecycle,
            device=self._on_device,
            action_done=self._on_action_done,
            addresses=lambda h, got: self.changed(self.fleet.apply_addresses(h, got), paced=True),
        )
        for host in self.host_order:
            self.controllers[host] = HostController(
                host,
                partial(self.services.host_backend, host.libvirt_uri, self.readonly),
                self.runner,
                listener,
                refresh=lambda: self.refresh_s,
                columns=self.main_screen.stat_columns,
            )
        self.changed(Change(link=True))
        if not self.options.live:
            return
        self.services.register_event_loop()  # once per process, before connections open
        for host, ctl in self.controllers.items():
            ctl.start(self.options.prefetched.get(host))
        self._sampler = self.services.host_sampler(self.settings.show_loopback)
        self._host_tick()
        self.set_interval(WATCHDOG_S, self._watch_render, name="render-watchdog")
        self.set_timer(2.0, self.start_deferred)  # or at the first guest frame

    async def action_quit(self) -> None:
        self.shutdown()
        self.exit(0)

    def on_unmount(self) -> None:
        self.unwatch_log_failures()
        self.shutdown()

    def shutdown(self) -> None:
        """Stop everything without waiting for any host (idempotent)."""
        for ctl in self.controllers.values():
            ctl.close()
        if self.runner is not None:
            self.runner.close()
        if self.usb is not None:
            self.usb.stop()
        self.consoles.shutdown()

    # -- the store: results in, one render per frame out ---------------------------------
    def changed(self, change: Change, paced: bool = False) -> None:
        """Queue a change for the next frame (``paced``: see RENDER_GAP_S; none when empty). On
        the loop's thread only: from another thread it is handed to the loop (logged: a bug)."""
        if threading.get_ident() != self._loop_thread and self.runner is not None:
            log.error("changed() called from thread %s", threading.current_thread().name)
            self.runner.loop.call_soon_threadsafe(self.changed, change, paced)
            return
        if paced and not change:  # a poll or an address run that changed nothing: no frame
            return
        self._pending.append(change)
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        if self._render_queued:  # a flag, not "was the list empty": a lost call retries
            return
        wait = self._rendered_at + RENDER_GAP_S - now if paced else 0.0
        if wait <= 0:
            self._render_queued = self.call_later(self._render_pending)
        elif self._render_timer is None:
            self._render_timer = self.set_timer(wait, self._render_paced)

    def _render_paced(self) -> None:
        self._render_timer = None
        self._render_pending()  # nothing left if a sooner render took the paced ones

    def _render_pending(self) -> None:
        self._render_queued = False
        self._pending_since = None
        pending, self._pending = self._pending, []
        if not pending or not self.is_running or not self.main_screen.is_attached:
            return  # is_running: no render into screens a shutdown is emptying
        self._rendered_at = time.monotonic()
        merged = Change.merge(pending)
        with self.batch_update():
            self.main_screen.render_fleet(self.fleet, merged)
            if self.screen is not self.main_screen and isinstance(self.screen, LiveScreen):
                self.screen.render_fleet(self.fleet, merged)

    def _watch_render(self) -> None:
        """The render watchdog (every WATCHDOG_S): changes waiting for a frame, or polls held
        for a host sample, longer than STALL_S are a stalled pipeline. Say so in the log and
        on screen (once per stall), then release them, so the screen catches up instead of
        freezing silently."""
        now = time.monotonic()
        since = self._pending_since
        if since is not None and now - since > STALL_S:
            self._stalled("render", f"{len(self._pending)} updates waited {now - since:.0f} s")
            self._render_pending()
        elif since is None:
            self._stalls_open.discard("render")
        held = self._held_since
        if self._sampler_stuck() or (held is not None and now - held > STALL_S):
            waited = now - (self._sampling_since if self._sampling else (held or now))
            self._stalled("sample", f"the host sample did not come for {waited:.0f} s")
            self._release_held()
        elif not self._sampling:
            self._stalls_open.discard("sample")

    def _sampler_stuck(self) -> bool:
        """A host sample has been on its way for longer than STALL_S: polls are not held."""
        return self._sampling and time.monotonic() - self._sampling_since > STALL_S

    def _stalled(self, kind: str, what: str) -> None:
        self.stalls += 1
        log.warning("render watchdog: %s", what)
        if kind in self._stalls_open:
            return  # said once for this stall
        self._stalls_open.add(kind)
        self.log_event(f"display stalled: {what}; redrawn now")
        self.notify(
            f"Display stalled: {what}. Redrawn now; see --log for details.",
            title="kvmdeck",
            severity="error",
            timeout=10,
            markup=False,
        )

    def log_event(self, text: str, wall: float | None = None, key: GuestKey | None = None) -> None:
        self.fleet.log(text, wall, key)
        self.changed(Change())

    # -- controller callbacks (on the loop) ---------------------------------------------
    def _on_link(self, host: HostId, report: LinkReport) -> None:
        ctl = self.controllers[host]
        up = report.state is LinkState.UP
        h = self.fleet.host(host)
        before = h.state
        self.changed(self.fleet.apply_link(host, report, hostname=ctl.hostname if up else ""))
        if report.state is LinkState.UP:
            self.log_event(f"connected to {h.label} ({h.uri_text}, hostname {ctl.hostname})")
            if self.usb is not None and (usb := ctl.capabilities.usb) is not None:
                self.usb.host_connected(self.host_order.index(host), usb, ctl.hostname)
        elif report.error and (before is LinkState.UP or report.attempt == 0):
            self.log_event(f"{h.label}: {report.error}")
            if len(self.host_order) > HOST_LINES:
                return  # many hosts: the summary line counts it, the hosts screen says why
            self.notify(
                report.error, title=f"libvirt: {h.label}", severity="error", timeout=8, markup=False
            )

    def _on_polled(self, host: HostId, seq: int, result: PollResult, held: bool = False) -> None:
        hold = self._sampler is not None and not self._sampler_stuck()
        if not held and hold and host == self.host_order[0]:
            self._held.append((host, seq, result))  # applied with the host sample it triggers:
            if self._held_since is None:
                self._held_since = time.monotonic()
            self._host_tick()  # one repaint for both, and the store never ahead of the screen
            return
        self.changed(change := self.fleet.apply_poll(host, seq, result), paced=True)
        if self.usb is not None and change.hosts:  # polled alone: the same guests run
            running = {g.name: g.sample.running for g in self.fleet.host(host).guests.values()}
            self.usb.guests_changed(self.host_order.index(host), running)
        if not self._deferred_started:
            self.start_deferred()  # the first guest frame is on screen

    def _on_lifecycle(self, host: HostId, ev: LifecycleEvent) -> None:
        self.changed(self.fleet.apply_lifecycle(host, ev))
        if self.usb is not None:
            self.usb.lifecycle(self.host_order.index(host), ev.name, ev.kind)

    def _on_device(self, host: HostId, ev: DeviceEvent) -> None:
        what = "added to" if ev.added else "removed from"
        self.log_event(f"device {ev.alias} {what} {ev.name}", ev.wall)
        if self.usb is not None:
            self.usb.device_event(self.host_order.index(host), ev.uuid)

    def _on_action_done(self, host: HostId, uuid: str, verb: str, text: str, ok: bool) -> None:
        if not ok:  # e.g. a refused shutdown: the row no longer says "shutting down"
            self.changed(self.fleet.clear_pending(GuestKey(host, uuid)))
        text = text.replace(str(host), self.label(host)) + self.where(host)  # never a key path
        self.log_event(text)  # a result line per guest; a bulk action's toast sums them up
        if not bulk_result(self, GuestKey(host, uuid), verb, ok, text):
            self.notify(text, severity="information" if ok else "error", timeout=6, markup=False)

    # -- the local host: sampled after each poll of the first host, shown in the same frame --
    def _host_tick(self) -> None:
        if self.runner is not None and self._sampler is not None and not self._sampling:
            self._sampling = True  # a failure reports itself, and releases the polls too
            self._sampling_since = time.monotonic()
            failed = lambda _exc: self._host_sample(None)  # noqa: E731
            self.runner.submit("host stats", self._sampler.sample, self._host_sample, failed)

    def _host_sample(self, sample: HostSample | None) -> None:
        self._sampling = False
        if sample is not None:
            self.changed(self.fleet.apply_host_sample(sample))
        self._release_held()  # their changes and the sample's: one render
        if self._host_timer is not None:  # no polls (no host up): the panel's own slower clock
            self._host_timer.stop()
        self._host_timer = self.set_timer(self.refresh_s * 1.5, self._host_tick)

    def _release_held(self) -> None:
        held, self._held, self._held_since = self._held, [], None
        for host, seq, result in held:
            self._on_polled(host, seq, result, held=True)

    # -- deferred work: the VT probe and USB start after the first guest frame -----------
    def start_deferred(self) -> None:
        if self._deferred_started or not self.options.live:
            return
        self._deferred_started = True
        if self.usb is not None:
            self.usb.start()
        self.vt.start()

    def action_doctor(self) -> None:
        self.vt.show()

    # -- consoles ------------------------------------------------------------------------
    def on_viewer_changed(self, msg: m.ViewerChanged) -> None:
        self.consoles.log(msg.info)

    def action_viewers(self) -> None:
        self.consoles.show()

    def action_guest_feature(self, name: str) -> None:  # serial console, snapshots (issue 13)
        from tui.ui.guest_features import run

        run(self, name)

    # -- storage and networks (issue 21): of the selected guest's host, else the first ------
    def _ops_host(self) -> HostId:
        g = self.main_screen.table.selected_guest() if self.main_screen.is_attached else None
        return g.key.host if g is not None else self.host_order[0]

    def action_storage(self) -> None:
        from tui.ui.screens.storage import StorageScreen

        host = self._ops_host()
        self.push_screen(StorageScreen(host, self.fleet.host(host).label))

    def action_networks(self) -> None:
        from tui.ui.screens.networks import NetworksScreen

        host = self._ops_host()
        self.push_screen(NetworksScreen(host, self.fleet.host(host).label))

    def action_provision(self, verb: str) -> None:  # create, clone, delete, edit (issue 21)
        from tui.ui.provision_feature import run as provision

        provision(self, verb)

    # -- help, USB, palette --------------------------------------------------------------
    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Every key and palette choice: a refused action (read-only) says why instead."""
        if isinstance(action, str) and actions.intercept(self, actions.top_screen(self), action):
            return True
        return await super().run_action(action, default_namespace, namespaces)

    def action_help(self) -> None:
        from tui.ui.screens.help import HelpScreen

        scope, keymap = actions.scope_of(self.screen), self.settings.keymap
        self.push_screen(HelpScreen(scope=scope, keymap=keymap, readonly=self.readonly))

    def action_usb(self) -> None:
        if self.usb is None:
            self.notify("USB is not available here.", severity="warning")
        else:
            self.usb.show()

    def show_host_only(self, label: str) -> None:
        self.main_screen.show_host_only(label)

    def select_guest(self, row: str) -> None:
        """Select a guest's row. One the store has but whose frame has not come yet (polls render
        paced, RENDER_GAP_S apart) is drawn first: the cursor, and the next key, are on it at
        once, not on the row the cursor was on ("go to guest", then a key)."""
        if self._pending and not self.table.has_row(row):
            self._render_pending()
        self.main_screen.select_row(row)
