"""Choosing, opening and keeping libvirt connections.

One :class:`HostLink` per host holds a tiny state machine (connecting → up → reconnecting → up …
or down). It never touches the UI: it reports through a callback, and the app turns the reports
into messages. Every method that talks to libvirt may block, so the app calls them from thread
workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import libvirt

from tui.adapters.libvirt.failures import classify_failure
from tui.model.link import FailureCause, LinkFailure, LinkReport, LinkState, no_answer

__all__ = [  # LinkState, LinkReport, LinkFailure, FailureCause, no_answer: from tui.model.link
    "ConnectFailed",
    "FailureCause",
    "HostLink",
    "LinkFailure",
    "LinkReport",
    "LinkState",
    "choose_uris",
    "classify_failure",
    "demo_uri",
    "demo_xml_path",
    "display_uri",
    "failure_of",
    "is_remote",
    "is_test_driver",
    "link_is_dead",
    "no_answer",
    "open_connection",
    "register_event_loop",
    "silence_libvirt_errors",
    "ssh_target",
    "wait_for_libvirt",
    "with_no_tty",
]

log = logging.getLogger(__name__)

_quiet_lock = threading.Lock()
_quiet_done = False


def silence_libvirt_errors() -> None:
    """libvirt's default handler prints to the terminal and corrupts a TUI; we report errors ourselves."""
    global _quiet_done
    with _quiet_lock:
        if not _quiet_done:
            libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
            _quiet_done = True


def register_event_loop(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Register libvirt's asyncio event implementation, once per process, on ``loop`` (or on
    the running loop). Must happen before connections open, or they get no events.
    Returns True when events are available.
    """
    from tui.adapters.libvirt import eventloop

    eventloop.register(loop)  # libvirtaio, safe to call from any thread (see eventloop.py)
    return True


def demo_xml_path() -> Path:
    return Path(str(resources.files("tui.demo").joinpath("demo.xml")))


def demo_uri() -> str:
    return f"test://{demo_xml_path()}"


def choose_uris(
    cli: list[str] | None,
    env: dict[str, str] | None,
    config_uri: str | None,
    config_hosts: list[str] | None = None,
) -> list[str | None]:
    """virsh's order: --connect, then $LIBVIRT_DEFAULT_URI, then the config, then libvirt's default.

    ``None`` stands for libvirt's own default (``virConnectOpen(NULL)``).
    """
    env = dict(os.environ) if env is None else env
    if cli:
        return list(dict.fromkeys(cli))
    if env.get("LIBVIRT_DEFAULT_URI"):
        return [env["LIBVIRT_DEFAULT_URI"]]
    if config_hosts:
        return list(dict.fromkeys(config_hosts))
    if config_uri:
        return [config_uri]
    return [None]


def is_remote(uri: str | None) -> bool:
    """A URI that names another machine (qemu+ssh://host/…); qemu:///system is local."""
    if not uri:
        return False
    parts = urlsplit(uri)
    if not parts.hostname:
        return False
    # ssh to loopback is still another libvirtd's view (tests use it); tcp to loopback is local.
    return parts.hostname not in ("localhost", "127.0.0.1", "::1") or "+ssh" in parts.scheme


def ssh_target(uri: str) -> tuple[str | None, str, int | None]:
    """(user, host, port) of a qemu+ssh:// URI."""
    parts = urlsplit(uri)
    return parts.username, parts.hostname or "", parts.port


def display_uri(uri: str | None) -> str:
    """A URI for the screen: a test-driver file path is shortened to its file name."""
    if not uri:
        return "libvirt default"
    if uri.startswith("test:///") and uri.count("/") > 3:
        return "test:///…/" + uri.rsplit("/", 1)[1]
    return uri


def is_test_driver(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith("test:")


def with_no_tty(uri: str | None) -> str | None:
    """SSH must never prompt onto the TUI: add ``no_tty=1`` to ssh transports."""
    if not uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:  # malformed: libvirt says why ("Unable to parse URI")
        return uri
    if not parts.scheme.endswith("+ssh") and not parts.scheme.endswith("+libssh2"):
        return uri
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "no_tty" in query:
        return uri
    query["no_tty"] = "1"
    return urlunsplit(parts._replace(query=urlencode(query, safe="/~")))


class ConnectFailed(Exception):
    """Opening a connection failed. ``failure`` says why and what to do (see
    :func:`classify_failure`); ``error`` is libvirt's own message; ``hint`` is the fix line."""

    def __init__(self, uri: str | None, failure: LinkFailure, error: str = "") -> None:
        self.uri = uri
        self.failure = failure
        self.error = error or failure.detail or failure.summary
        self.hint = failure.fix
        super().__init__(f"Cannot connect to {uri or 'the default hypervisor'}: {failure.text()}")


def failure_of(uri: str | None, exc: libvirt.libvirtError) -> LinkFailure:
    """Classify a libvirt error raised while opening or using ``uri``."""
    msg = exc.get_error_message() or str(exc)
    return classify_failure(uri, msg, exc.get_error_code(), exc.get_error_domain())


def open_connection(uri: str | None, readonly: bool = False) -> libvirt.virConnect:
    """Open a connection (blocking). Raises :class:`ConnectFailed` carrying a LinkFailure.

    No deadline here: a peer that accepts and never answers blocks this call for minutes. Run
    it in a daemon thread, stop waiting after a deadline and report :func:`no_answer`.
    """
    silence_libvirt_errors()
    real = with_no_tty(uri)
    try:
        conn = libvirt.openReadOnly(real) if readonly else libvirt.open(real)
    except libvirt.libvirtError as exc:
        msg = exc.get_error_message() or str(exc)
        failure = failure_of(uri, exc)
        log.info("cannot open %s: %s (libvirt: %s)", uri, failure.cause.name, msg)
        raise ConnectFailed(uri, failure, msg) from exc
    if conn is None:  # pragma: no cover - old bindings
        raise ConnectFailed(uri, classify_failure(uri, "libvirt returned no connection"))
    return conn


class HostLink:
    """One host's connection: open, keepalive, close callback, reconnect with backoff."""

    BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

    def __init__(
        self,
        uri: str | None,
        readonly: bool = False,
        on_report: Callable[[LinkReport], None] | None = None,
        keepalive: tuple[int, int] = (-1, 0),  # off: see KEEPALIVE_OFF in host.py
    ) -> None:
        self.uri = uri
        self.readonly = readonly
        self.conn: libvirt.virConnect | None = None
        self.state = LinkState.CONNECTING
        self.error = ""
        self.failure: LinkFailure | None = None
        self.attempt = 0
        self.hostname = ""
        self.generation = 0  # bumped on every successful (re)connect
        self._on_report = on_report or (lambda _r: None)
        self._keepalive = keepalive
        self._lock = threading.RLock()
        self._closed_by_us = False

    # -- state -------------------------------------------------------------------------
    def _set(self, state: LinkState, error: str = "", failure: LinkFailure | None = None) -> None:
        log.info("%s: %s%s", self.uri or "default", state.value, f" ({error})" if error else "")
        self.state = state
        self.error = error
        self.failure = failure
        self._on_report(LinkReport(self.uri, state, error, self.attempt, failure))

    @property
    def is_up(self) -> bool:
        return self.state is LinkState.UP and self.conn is not None

    @property
    def is_test(self) -> bool:
        return is_test_driver(self.uri)

    # -- open / close --------------------------------------------------------------------
    def connect(self) -> libvirt.virConnect:
        """Open (blocking). On failure the state is DOWN (first try) and ConnectFailed raises."""
        with self._lock:
            try:
                conn = open_connection(self.uri, self.readonly)
            except ConnectFailed as exc:
                state = LinkState.DOWN if self.attempt == 0 else LinkState.RECONNECTING
                self._set(state, str(exc), exc.failure)
                raise
            self._closed_by_us = False
            self.conn = conn
            try:
                self.hostname = conn.getHostname()
            except libvirt.libvirtError:
                self.hostname = self.uri or "localhost"
            if not self.is_test:
                try:
                    conn.setKeepAlive(*self._keepalive)
                except libvirt.libvirtError as exc:  # local unix sockets may refuse
                    log.debug("keepalive not available on %s: %s", self.uri, exc)
            try:
                conn.registerCloseCallback(self._closed, None)
            except libvirt.libvirtError as exc:
                log.debug("close callback not available on %s: %s", self.uri, exc)
            self.generation += 1
            self.attempt = 0
            self._set(LinkState.UP)
            return conn

    def _closed(self, _conn: libvirt.virConnect, reason: int, _opaque: object) -> None:
        """libvirt's close callback (runs on the event loop)."""
        if self._closed_by_us:
            return
        names = {0: "error", 1: "end of file", 2: "keepalive timeout", 3: "client request"}
        self.conn = None
        self._set(LinkState.RECONNECTING, f"connection lost ({names.get(reason, reason)})")

    def mark_lost(self, error: str) -> None:
        """A call failed because the link is gone (the close callback may come later or never)."""
        with self._lock:
            if self.state is LinkState.UP:
                self.conn = None
                self._set(LinkState.RECONNECTING, error)

    def next_delay(self) -> float:
        return self.BACKOFF[min(self.attempt, len(self.BACKOFF) - 1)]

    def reconnect_once(self) -> bool:
        """One reconnect attempt (blocking). Returns True when up again."""
        self.attempt += 1
        try:
            self.connect()
        except ConnectFailed:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            conn, self.conn = self.conn, None
            self._closed_by_us = True
            if conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    conn.unregisterCloseCallback()
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()
            self.state = LinkState.DOWN


def link_is_dead(conn: libvirt.virConnect | None) -> bool:
    """After a failed call: is the connection itself gone (not just one domain)?"""
    if conn is None:
        return True
    try:
        return conn.isAlive() != 1
    except libvirt.libvirtError:
        return True


def wait_for_libvirt(uri: str, deadline_s: float = 60.0) -> libvirt.virConnect:
    """Poll ``libvirt.open`` until it works (the first libvirtd start probes QEMU's capabilities)."""
    silence_libvirt_errors()
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        try:
            return libvirt.open(uri)
        except libvirt.libvirtError as exc:
            last = str(exc)
            time.sleep(0.5)
    raise TimeoutError(f"libvirt at {uri} did not answer within {deadline_s:.0f} s: {last}")
