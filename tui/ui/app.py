"""The kvmdeck App: wires the sources (psutil, libvirt, pyudev) to the widgets through messages.

Every blocking libvirt call runs in a thread worker. Each kind of work has its own worker group
(``exclusive=True`` cancels the whole group): ``stats-<host>``, ``connect-<host>``, ``host``,
``actions``, ``console``, ``probe``, and ``usb``/``usb-owners`` (tui/app_usb.py). Polling paces
itself: a tick re-arms the next one only when it is done, and one timer per kind is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, TypeVar

import libvirt
import psutil
from rich.text import Text
from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, RichLog

from tui.adapters.libvirt.connection import (
    ConnectFailed,
    HostLink,
    LinkReport,
    LinkState,
    display_uri,
    is_test_driver,
    register_event_loop,
)
from tui.adapters.libvirt.events import DeviceEvent, LifecycleEvent
from tui.adapters.libvirt.hoststats import RemoteHostSample
from tui.adapters.libvirt.session import HostSession
from tui.adapters.local.hoststats import HostSampler
from tui.config import MAX_REFRESH, MIN_REFRESH, Settings
from tui.ui import messages as m
from tui.ui.app_usb import UsbMixin
from tui.ui.commands import GuestCommands
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.detail import GuestDetailScreen
from tui.ui.screens.help import HelpScreen, binding_rows
from tui.ui.screens.main import HostsBar, MainScreen
from tui.ui.widgets.guest_table import GuestTable
from tui.ui.widgets.host_panel import HostPanel
from tui.util import DASH, fmt_bytes, fmt_pct

if TYPE_CHECKING:  # imported where used: start-up pays only for the main screen
    from tui.adapters.launch import Launcher, ViewerInfo
    from tui.adapters.local.vt import VtReport

log = logging.getLogger(__name__)
W = TypeVar("W", bound=Widget)

EVENT_POLL_DELAY = 0.1  # s: events within this window share one poll

EVENT_STATE = {
    "started": "running",
    "resumed": "running",
    "suspended": "paused",
    "stopped": "shut off",
    "shutdown": "shutting down",
    "crashed": "crashed",
    "pmsuspended": "suspended",
}


def remote_summary(r: RemoteHostSample) -> str:
    """A remote host's figures (libvirt's getInfo/getCPUStats/getMemoryStats; '—' for gaps)."""
    cpu = fmt_pct(r.cpu_pct).strip()
    if r.mem_total_kib and r.mem_free_kib is not None:
        used = (r.mem_total_kib - r.mem_free_kib) * 1024
        mem = f"{fmt_bytes(used)}/{fmt_bytes(r.mem_total_kib * 1024)}"
    elif r.mem_total_kib:
        mem = f"{DASH}/{fmt_bytes(r.mem_total_kib * 1024)}"
    else:
        mem = DASH
    return f"host cpu {cpu} of {r.cpus or DASH} · mem {mem} (via libvirt)"


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
    live: bool = True  # False: start no sources (snapshot tests inject messages)
    vt_badge: str | None = None  # injected badge (tests); otherwise probed
    host_labels: list[str] | None = None  # injected host names (tests)


class KvmDeckApp(UsbMixin):
    TITLE = "kvmdeck"
    CSS_PATH = css_paths()
    COMMANDS = App.COMMANDS | {GuestCommands}
    # Global keys; the guest keys live on the main screen (tui/screens/main.py), so they are
    # not active on the USB, detail or doctor screens.
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, options: AppOptions | None = None) -> None:
        super().__init__()
        self.options = options or AppOptions()
        self.settings = self.options.settings
        self.refresh_s = self.options.refresh or self.settings.refresh
        self.readonly = self.options.readonly or self.settings.readonly
        self.sessions: list[HostSession] = []
        self.host_labels: list[str] = list(self.options.host_labels or [])
        self.badge = self.options.vt_badge or "KVM: probing…"
        self.vt_report: VtReport | None = None
        self._deferred_started = False
        self.sampler: HostSampler | None = None
        self._pace_timers: dict[str, Timer] = {}
        self.guest_events: dict[str, list[str]] = {}
        self.link_states: dict[int, LinkReport] = {}
        self.remote_samples: dict[int, RemoteHostSample] = {}
        self._launcher: Launcher | None = None
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)

    # -- composition ---------------------------------------------------------------------
    def get_default_screen(self) -> MainScreen:
        self.main_screen = MainScreen(show_host_column=len(self.options.uris) > 1)
        return self.main_screen

    @property
    def table(self) -> GuestTable:
        return self._main_widget(GuestTable)

    def _main_widget(self, kind: type[W], selector: str | None = None) -> W:
        """Widgets of the main screen, found there even while another screen is on top."""
        return self.main_screen.query_one(selector or kind, kind)  # type: ignore[arg-type]

    @property
    def ui_alive(self) -> bool:
        """False while the app shuts down: late messages (events, stats) are dropped then."""
        if self._exit or not self.main_screen.is_attached:
            return False
        try:
            self._main_widget(GuestTable)
        except NoMatches:  # composing, or already torn down
            return False
        return True

    def main_ready(self) -> None:
        """The main screen is mounted: start the sources (called by MainScreen.on_mount)."""
        for i, uri in enumerate(self.options.uris):
            link = HostLink(uri, self.readonly, on_report=partial(self._on_link_report, i))
            self.sessions.append(HostSession(link, host_cpus=psutil.cpu_count() or 1))
            if len(self.host_labels) <= i:
                self.host_labels.append(display_uri(uri))
        self._render_hosts()
        self.table.focus()
        self.usb_setup()
        if not self.options.live:
            return
        register_event_loop()  # once per process, on Textual's loop, before connections open
        for i in range(len(self.sessions)):
            self._connect(i)
        self.sampler = HostSampler(self.settings.show_loopback)
        self._host_tick()
        self._arm("deferred", 2.0, self._start_deferred)  # or at the first guest frame

    def on_unmount(self) -> None:
        self.usb_stop()
        if self._launcher is not None:
            self._launcher.shutdown(keep_viewers=self.settings.keep_viewers)
        for s in self.sessions:
            s.link.close()

    # -- the hosts bar ----------------------------------------------------------------------
    def _render_hosts(self) -> None:
        if not self.ui_alive:
            return
        lines = []
        for i, s in enumerate(self.sessions):
            rep = self.link_states.get(i)
            state = s.link.state
            style = {
                LinkState.UP: "green",
                LinkState.CONNECTING: "yellow",
                LinkState.RECONNECTING: "bold yellow",
                LinkState.DOWN: "bold red",
            }[state]
            line = Text()
            line.append("● ", style=style)
            line.append(f"{self.host_labels[i]}", style="bold")
            line.append(f"  {display_uri(s.uri)}  ", style="dim")
            line.append(state.value, style=style)
            if state is not LinkState.UP and rep is not None and rep.error:
                line.append(f"  {rep.error}", style=style)
            if state is LinkState.UP:
                n = sum(1 for k in self.table.samples if k.startswith(f"{i}/"))
                line.append(f"  {n} guests", style="dim")
                remote = self.remote_samples.get(i)
                if remote is not None:
                    line.append("  " + remote_summary(remote), style="cyan")
            lines.append(line)
        self._main_widget(HostsBar).show(
            lines, self.badge, self.options.demo, self.refresh_s, self.readonly
        )

    # -- connections ----------------------------------------------------------------------
    def _on_link_report(self, host: int, report: LinkReport) -> None:
        self.post_message(m.LinkChanged(host, report))  # thread-safe

    def _connect(self, host: int) -> None:
        self.run_worker(
            partial(self._connect_work, host),
            thread=True,
            exclusive=True,
            group=f"connect-{host}",
            name=f"connect {host}",
        )

    def _connect_work(self, host: int) -> None:
        link = self.sessions[host].link
        if link.state is LinkState.CONNECTING:
            try:
                link.connect()
                ok = True
            except ConnectFailed:
                ok = False  # the link has reported DOWN with the reason and the fix
        else:
            ok = link.reconnect_once()
        if ok:
            self.post_message(m.HostConnected(host))

    def on_link_changed(self, msg: m.LinkChanged) -> None:
        self.link_states[msg.host] = msg.report
        if msg.report.state in (LinkState.RECONNECTING, LinkState.DOWN):
            link = self.sessions[msg.host].link
            delay = link.next_delay()
            self._arm(f"connect-{msg.host}", delay, partial(self._connect, msg.host))
            self._cancel(f"stats-{msg.host}")
            if msg.report.attempt == 0:
                self.notify(msg.report.error, title="libvirt", severity="error", timeout=8)
        self._render_hosts()

    def on_host_connected(self, msg: m.HostConnected) -> None:
        s = self.sessions[msg.host]
        if s.link.hostname and not self.options.host_labels:
            self.host_labels[msg.host] = s.link.hostname
        try:
            s.register_events(
                partial(self._post_lifecycle, msg.host), partial(self._post_device, msg.host)
            )
        except libvirt.libvirtError as exc:
            self.log_event(f"events unavailable on {s.uri}: {exc.get_error_message()}")
        s.mark_stale()
        self.log_event(f"connected to {s.uri or 'libvirt default'} ({s.link.hostname})")
        self._render_hosts()
        self._poll(msg.host)
        if msg.host == 0:
            if self.usb_uses_libvirt():
                self.usb_start_remote(0)
            self.usb_refresh_owners()

    def _post_lifecycle(self, host: int, event: LifecycleEvent) -> None:
        self.post_message(m.Lifecycle(host, event))  # libvirtaio runs this on our loop

    def _post_device(self, host: int, event: DeviceEvent) -> None:
        self.post_message(m.GuestDevice(host, event))

    # -- timers: one per kind, re-armed after each run (never overlapping) -------------------
    def _arm(self, name: str, delay: float, callback: Callable[[], object]) -> None:
        self._cancel(name)
        self._pace_timers[name] = self.set_timer(delay, callback, name=name)

    def _cancel(self, name: str) -> None:
        timer = self._pace_timers.pop(name, None)
        if timer is not None:
            timer.stop()

    # -- guest stats ----------------------------------------------------------------------
    def _poll(self, host: int) -> None:
        self._cancel(f"stats-{host}")
        if not self.ui_alive:  # a timer that fires while the app shuts down
            return
        columns = self.table.stat_columns
        self.run_worker(
            partial(self._poll_work, host, columns),
            thread=True,
            exclusive=True,
            group=f"stats-{host}",
            name=f"stats {host}",
        )

    def _poll_work(self, host: int, columns: tuple[str, ...]) -> None:
        s = self.sessions[host]
        try:
            result = s.poll(columns)
        except libvirt.libvirtError as exc:
            self.post_message(m.PollFailed(host, exc.get_error_message() or str(exc)))
            return
        self.post_message(m.GuestStats(host, result))

    def on_guest_stats(self, msg: m.GuestStats) -> None:
        if not self.ui_alive:
            return
        s = self.sessions[msg.host] if msg.host < len(self.sessions) else None
        history = s.rates.history if s is not None else {}
        if msg.result.remote_host is not None:
            self.remote_samples[msg.host] = msg.result.remote_host
        with self.batch_update():
            self.table.update_host(
                msg.host, self.host_labels[msg.host], msg.result.samples, history
            )
        self._update_detail()
        self._render_hosts()
        if msg.host == 0:
            self.usb_guest_states({g.name: g.state == "running" for g in msg.result.samples})
        if not self._deferred_started and self.options.live:
            self._start_deferred()  # the first guest frame is on screen
        if self.options.live and s is not None and s.link.is_up:
            self._arm(f"stats-{msg.host}", self.refresh_s, partial(self._poll, msg.host))

    def on_poll_failed(self, msg: m.PollFailed) -> None:
        link = self.sessions[msg.host].link
        if link.is_up:
            self.log_event(f"stats failed on {link.uri}: {msg.error}")
            self._arm(f"stats-{msg.host}", self.refresh_s, partial(self._poll, msg.host))

    # -- host stats -----------------------------------------------------------------------
    def _host_tick(self) -> None:
        self.run_worker(self._host_work, thread=True, exclusive=True, group="host", name="host")

    def _host_work(self) -> None:
        if self.sampler is not None:
            self.post_message(m.HostStats(self.sampler.sample()))

    def on_host_stats(self, msg: m.HostStats) -> None:
        history = self.sampler.history if self.sampler is not None else None
        if not self.ui_alive:
            return
        self._main_widget(HostPanel).show(msg.sample, history)
        if self.options.live:
            self._arm("host", self.refresh_s, self._host_tick)

    # -- virtualization probe (the header badge and the doctor screen) -------------------
    def _start_deferred(self) -> None:
        """Once per app, after the first guest frame or 2 s, whichever comes first: the VT
        probe, USB rules and the udev monitor would otherwise compete with the first frame."""
        self._cancel("deferred")
        if self._deferred_started:
            return
        self._deferred_started = True
        self.usb_load_rules()
        if not self.usb_uses_libvirt():
            self.usb_start_local()
        if self.options.vt_badge is None:
            self.run_worker(self._probe_vt, thread=True, group="probe", exclusive=True)

    def _probe_vt(self) -> None:
        from tui.core.doctor import build_report

        uri = self.sessions[0].uri if self.sessions else None
        if uri is not None and is_test_driver(uri):
            uri = None  # the demo describes this machine's KVM, not the test driver's
        try:
            report = build_report(uri)
        except Exception as exc:  # the doctor screen shows the details
            log.exception("virtualization probe failed")
            self.call_from_thread(self._set_badge, f"KVM: unknown ({exc})", None)
            return
        self.call_from_thread(self._set_badge, report.badge, report)

    def _set_badge(self, badge: str, report: VtReport | None) -> None:
        from tui.ui.screens.doctor import DoctorScreen

        self.badge = badge
        self.vt_report = report
        self._render_hosts()
        if report is not None and isinstance(self.screen, DoctorScreen):
            self.screen.show(report)

    def action_doctor(self) -> None:
        if self.vt_report is None:
            self.notify("Virtualization checks are still running…", timeout=3)
            if not self.options.live:
                return
            if not self._deferred_started:
                self._start_deferred()
            elif not any(w.group == "probe" and not w.is_finished for w in self.workers):
                # the last probe failed: try again (a running one is not started twice)
                self.run_worker(self._probe_vt, thread=True, group="probe", exclusive=True)
            return
        from tui.ui.screens.doctor import DoctorScreen

        self.push_screen(DoctorScreen(self.vt_report))

    # -- events ---------------------------------------------------------------------------
    def log_event(self, text: str, wall: float | None = None, uuid: str | None = None) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(wall if wall is not None else time.time()))
        line = f"{stamp} {text}"
        try:
            self._main_widget(RichLog, "#events").write(line)
        except NoMatches:  # shutting down, or another screen is on top
            log.debug("event while the log is not mounted: %s", line)
        if uuid:
            self.guest_events.setdefault(uuid, []).append(line)

    def on_lifecycle(self, msg: m.Lifecycle) -> None:
        if not self.ui_alive:
            return
        ev: LifecycleEvent = msg.event
        key = f"{msg.host}/{ev.uuid}"
        self.log_event(f"{ev.name}: {ev.kind}", ev.wall, ev.uuid)
        if ev.kind == "undefined" and key in self.table.samples:
            sample = self.table.samples[key]
            if not sample.active:
                self.table.drop(key)
        state = EVENT_STATE.get(ev.kind)
        if state:
            self.table.set_state(key, state)
        if msg.host == 0:
            self.usb_guest_event(ev.name, ev.kind)
        # Re-read this guest's XML on the next poll, and poll soon rather than at the tick. A
        # burst of events (a guest starting emits several) coalesces into one poll.
        self.sessions[msg.host].mark_stale(ev.uuid)
        if self.sessions[msg.host].link.is_up:
            self._arm(f"stats-{msg.host}", EVENT_POLL_DELAY, partial(self._poll, msg.host))

    def on_guest_device(self, msg: m.GuestDevice) -> None:
        ev = msg.event
        what = "added to" if ev.added else "removed from"
        self.log_event(f"device {ev.alias} {what} {ev.name}", ev.wall, ev.uuid)
        if msg.host == 0:
            self.usb_refresh_owners()

    # -- actions --------------------------------------------------------------------------
    def _selected(self) -> tuple[int, str, str] | None:
        key = self.table.selected_key()
        if key is None:
            return None
        host, uuid = key.split("/", 1)
        return int(host), uuid, self.table.samples[key].name

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """--readonly: the mutating guest keys are disabled (greyed in the footer, inert)."""
        if action == "guest" and self.readonly:
            return None
        return True

    def action_guest(self, verb: str) -> None:
        sel = self._selected()
        if sel is None:
            self.notify("No guest selected.", severity="warning")
            return
        host, uuid, name = sel
        if self.readonly:
            self.notify(
                f"Read-only connection: cannot {verb} {name}. Restart without --readonly.",
                severity="warning",
            )
            return
        if verb == "pause":
            sample = self.table.samples[f"{host}/{uuid}"]
            verb = "resume" if sample.state == "paused" else "pause"
        if verb == "destroy":

            def answered(yes: bool | None) -> None:
                if yes:
                    self._run_action(host, uuid, name, "destroy")

            self.push_screen(
                ConfirmScreen(
                    f"Force off '{name}'? This is like pulling the power cord: "
                    "unsaved data in the guest is lost.",
                    yes_label="Force off",
                ),
                answered,
            )
            return
        self._run_action(host, uuid, name, verb)

    def _run_action(self, host: int, uuid: str, name: str, verb: str) -> None:
        self.run_worker(
            partial(self._action_work, host, uuid, name, verb),
            thread=True,
            group="actions",
            name=f"{verb} {name}",
        )

    def _action_work(self, host: int, uuid: str, name: str, verb: str) -> None:
        conn = self.sessions[host].link.conn
        if conn is None:
            self.post_message(m.ActionResult(f"{verb} {name}: host is not connected", ok=False))
            return
        try:
            dom = conn.lookupByUUIDString(uuid)
            calls = {
                "start": dom.create,
                "shutdown": dom.shutdown,
                "reboot": lambda: dom.reboot(0),
                "pause": dom.suspend,
                "resume": dom.resume,
                "destroy": dom.destroy,
            }
            calls[verb]()
        except libvirt.libvirtError as exc:
            self.post_message(
                m.ActionResult(f"{verb} {name} failed: {exc.get_error_message()}", ok=False)
            )
            return
        self.post_message(m.ActionResult(f"{verb}: {name} — done"))

    def on_action_result(self, msg: m.ActionResult) -> None:
        self.notify(msg.text, severity="information" if msg.ok else "error", timeout=6)
        self.log_event(msg.text)

    # -- SPICE consoles ---------------------------------------------------------------------
    @property
    def launcher(self) -> Launcher:
        """The one launcher of external programs, made on first use."""
        if self._launcher is None:
            from tui.adapters.launch import Launcher

            self._launcher = Launcher(on_change=self._on_viewer_change)
        return self._launcher

    def action_console(self) -> None:
        sel = self._selected()
        if sel is None:
            self.notify("No guest selected.", severity="warning")
            return
        host, _uuid, name = sel
        self.notify(f"Opening the console of {name}…", timeout=3)
        self.run_worker(
            partial(self._console_work, host, name),
            thread=True,
            group="console",
            name=f"console {name}",
        )

    def _console_work(self, host: int, name: str) -> None:
        from tui.adapters.launch import LaunchError, open_console
        from tui.adapters.libvirt.graphics import DisplayError

        s = self.sessions[host]
        conn = s.link.conn
        if conn is None:
            self.post_message(m.ConsoleResult(name, error=f"{s.uri}: not connected"))
            return
        try:
            result = open_console(conn, name, s.uri, self.readonly, self.launcher)
        except (DisplayError, LaunchError) as exc:  # clear messages, shown as they are
            self.post_message(m.ConsoleResult(name, error=str(exc)))
            return
        self.post_message(m.ConsoleResult(name, result=result))

    def on_console_result(self, msg: m.ConsoleResult) -> None:
        from tui.adapters.launch import ClientInstructions, ViewerOpened, ViewerState
        from tui.ui.screens.console import ClientCommandDialog

        if msg.error:
            self.notify(msg.error, title=f"Console of {msg.guest}", severity="error", timeout=10)
            self.log_event(f"console {msg.guest}: {msg.error}")
        elif isinstance(msg.result, ClientInstructions):
            self.push_screen(ClientCommandDialog(msg.result))
        elif isinstance(msg.result, ViewerOpened):
            failed = msg.result.viewer.state is ViewerState.FAILED
            self.notify(msg.result.message, severity="error" if failed else "information")
            self.log_event(msg.result.message)

    def _on_viewer_change(self, info: ViewerInfo) -> None:
        self.post_message(m.ViewerChanged(info))  # from the launcher's watcher thread

    def on_viewer_changed(self, msg: m.ViewerChanged) -> None:
        from tui.adapters.launch import ViewerInfo, ViewerState

        info = msg.info
        if isinstance(info, ViewerInfo) and info.state in (ViewerState.FAILED, ViewerState.EXITED):
            self.log_event(
                f"viewer of {info.guest} (pid {info.pid}): {info.state.value} {info.detail}"
            )

    def action_viewers(self) -> None:
        from tui.ui.screens.console import ViewersScreen

        self.push_screen(ViewersScreen(self.launcher))

    # -- view -----------------------------------------------------------------------------
    def action_sort(self, what: str) -> None:
        self.table.set_sort(what)

    def action_refresh_rate(self, direction: int) -> None:
        steps = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]
        cur = min(range(len(steps)), key=lambda i: abs(steps[i] - self.refresh_s))
        nxt = max(0, min(len(steps) - 1, cur + direction))
        self.refresh_s = max(MIN_REFRESH, min(MAX_REFRESH, steps[nxt]))
        self.notify(f"Refresh every {self.refresh_s:g} s", timeout=2)
        self._render_hosts()

    def action_filter(self) -> None:
        box = self._main_widget(Input, "#filter")
        box.add_class("visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        box = self._main_widget(Input, "#filter")
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.remove_class("visible")
            self.table.focus()
            event.stop()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(binding_rows(self.all_bindings(), self.get_key_display)))

    def all_bindings(self) -> list[Binding]:
        """The bindings in force now (after any [keymap] rebinding), each listed once."""
        seen: set[str] = set()
        out = []
        for active in self.active_bindings.values():
            b = active.binding
            ident = b.id or f"{b.action}@{b.key}"
            if ident in seen:
                continue
            seen.add(ident)
            out.append(b)
        return out

    @on(DataTable.RowSelected, "#guest-table")
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        """Enter on a row (the table's own binding) opens the guest's detail."""
        self.action_detail()

    def action_detail(self) -> None:
        key = self.table.selected_key()
        if key is None:
            return
        sample = self.table.samples[key]
        screen = GuestDetailScreen(key, f"{sample.name} on {self.table.hosts.get(key, '')}")
        self.push_screen(screen)
        self.call_after_refresh(self._update_detail)

    def _update_detail(self) -> None:
        screen = self.screen
        if not isinstance(screen, GuestDetailScreen):
            return
        host, uuid = screen.row_key.split("/", 1)
        s = self.sessions[int(host)] if int(host) < len(self.sessions) else None
        screen.show(
            s.info.get(uuid) if s else None,
            self.table.samples.get(screen.row_key),
            s.rates.history.get(uuid) if s else None,
            self.guest_events.get(uuid, []),
        )

    def select_guest(self, key: str) -> None:
        self.table.select_key(key)

    @property
    def is_demo(self) -> bool:
        return self.options.demo or any(is_test_driver(s.uri) for s in self.sessions)
