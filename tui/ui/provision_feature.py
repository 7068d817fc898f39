"""``app.provision(verb)``: create, clone, delete, edit and the XML editor (issue 21).

Each verb reaches the host's ``Provisioning`` family (its ``HostCapabilities``); a host
without it (not connected, or a kind of host that cannot) says so. Every host call goes
through ``app.runner``. The XML editor works as ``virsh edit`` does: the saved XML in
``$VISUAL``/``$EDITOR`` (vi when neither is set) in kvmdeck's own terminal (the app is
suspended meanwhile, as for the serial console), then the diff, then libvirt defines it with
schema validation; a refused define opens the editor again on the operator's text with
libvirt's error on top, so nothing typed is lost. Quitting the editor without a change
gives up; the refused text is then kept in a file, and the message says where.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import logging
import os
import shlex
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from textual.app import SuspendNotSupported

from tui.core.ports import BackendError
from tui.model.ids import HostId
from tui.model.provision import XmlDefineFailed
from tui.ui import actions

T = TypeVar("T")
S = TypeVar("S")

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui.core.ports import Provisioning
    from tui.model.fleet import Guest
    from tui.model.provision import Created
    from tui.ui.app import KvmDeckApp

log = logging.getLogger(__name__)

VERBS = {
    "create": "guest.create",
    "clone": "guest.clone",
    "delete": "guest.delete",
    "edit": "guest.edit",
    "xml": "guest.edit_xml",
}
ERROR_HEAD = "<!-- kvmdeck: libvirt refused this XML:"
ERROR_TAIL = "Fix it and save to try again; quit without saving to give up. -->"


def ops_for(app: KvmDeckApp, host: HostId) -> Provisioning | None:
    """The host's Provisioning family while it is connected, else None."""
    if not app.is_up(host) or app.runner is None:
        return None
    return app.caps(host).provisioning


def run(app: KvmDeckApp, verb: str) -> None:
    action_id = VERBS[verb]
    if actions.refuse(app, action_id):
        return
    if verb == "create":
        create(app)
        return
    g = app.main_screen.table.selected_guest()
    if g is None:
        app.notify("No guest selected.", severity="warning")
        return
    ops = ops_for(app, g.key.host)
    if ops is None:
        actions.say_refused(app, action_id, f"{g.key.host} is not connected, or cannot do that")
        return
    if verb in ("clone",) and g.sample.active:
        actions.say_refused(app, action_id, f"{g.name} is {g.sample.state}: shut it down first")
        return
    if verb == "delete" and g.sample.active:
        actions.say_refused(
            app, action_id, f"{g.name} is {g.sample.state}: shut it down (h) or force it off (X)"
        )
        return
    {"clone": clone, "delete": delete, "edit": edit, "xml": edit_xml}[verb](app, ops, g)


def _failed(app: KvmDeckApp, title: str) -> Callable[[BaseException], bool]:
    def failed(exc: BaseException) -> bool:
        if not isinstance(exc, BackendError):
            return False
        app.notify(exc.message, title=title, severity="error", markup=False)
        app.log_event(f"{title}: {exc.message}")
        return True

    return failed


# -- create ---------------------------------------------------------------------------------
def create(app: KvmDeckApp) -> None:
    from tui.ui.screens.provision import CreateScreen

    g = app.main_screen.table.selected_guest()
    hosts = [g.key.host] if g is not None else []
    hosts += [h for h in app.fleet.hosts if h not in hosts]
    for host in hosts:
        ops, caps = ops_for(app, host), app.caps(host)
        if ops is not None and caps.storage is not None and caps.networks is not None:
            form = CreateScreen(ops, caps.storage, caps.networks, app.label(host))
            app.push_screen(form, lambda got: _after_create(app, got))
            return
    actions.say_refused(app, "guest.create", "no connected host can create guests")


def _after_create(app: KvmDeckApp, got: Created | None) -> None:
    if got is None or not got.iso_install or not got.started:
        return
    from tui.ui.screens.confirm import ConfirmScreen

    def answered(yes: bool | None) -> None:
        if not yes:
            return
        for guest in app.fleet.guests():
            if guest.key.uuid == got.uuid:
                app.select_guest(guest.key.row)
                app.guests.console(guest.key)  # by key, not by what is selected
                return
        app.notify(f"{got.name} is not listed yet: select it and press v", markup=False)

    app.push_screen(
        ConfirmScreen(
            f"{got.name} started from its ISO. Open its console (SPICE viewer) for the install?",
            yes_label="Open console",
        ),
        answered,
    )


def _read_then(
    app: KvmDeckApp,
    what: str,
    read: Callable[[], T],
    screen_of: Callable[[T], Screen[S]],
    title: str,
) -> None:
    """``read`` through the runner (a host call, named ``what``), then the dialog
    ``screen_of`` its result; a failure is told under ``title``."""
    assert app.runner is not None

    def done(got: T) -> None:
        app.push_screen(screen_of(got))

    app.runner.submit(what, read, done=done, failed=_failed(app, title))


# -- clone, delete, edit ----------------------------------------------------------------------
def clone(app: KvmDeckApp, ops: Provisioning, g: Guest) -> None:
    from tui.ui.screens.provision_dialogs import CloneScreen

    app.push_screen(CloneScreen(ops, g.key.uuid, g.name))


def delete(app: KvmDeckApp, ops: Provisioning, g: Guest) -> None:
    from tui.ui.screens.provision_dialogs import DeleteScreen

    uuid = g.key.uuid
    plan, screen = (lambda: ops.delete_plan(uuid)), (lambda p: DeleteScreen(ops, p))
    _read_then(app, f"delete plan {g.name}", plan, screen, f"Delete {g.name}")


def edit(app: KvmDeckApp, ops: Provisioning, g: Guest) -> None:
    from tui.ui.screens.provision_dialogs import EditScreen

    uuid = g.key.uuid
    settings, screen = (lambda: ops.settings(uuid)), (lambda s: EditScreen(ops, s))
    _read_then(app, f"settings {g.name}", settings, screen, f"Edit {g.name}")


# -- the XML in $EDITOR -------------------------------------------------------------------------
def edit_xml(app: KvmDeckApp, ops: Provisioning, g: Guest) -> None:
    assert app.runner is not None
    uuid, name = g.key.uuid, g.name

    def got(base: str) -> None:
        app.run_worker(
            xml_loop(app, ops, uuid, name, base),
            name=f"edit XML {name}",
            group="edit-xml",
            exit_on_error=False,
        )

    app.runner.submit(
        f"XML of {name}", lambda: ops.xml(uuid), done=got, failed=_failed(app, f"XML of {name}")
    )


def editor_argv(path: str) -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return [*shlex.split(editor), path]


def with_error(text: str, error: str) -> str:
    safe = error.replace("--", "- -")
    return f"{ERROR_HEAD}\n  {safe}\n  {ERROR_TAIL}\n{without_error(text)}"


def without_error(text: str) -> str:
    if text.startswith(ERROR_HEAD):
        end = text.find("-->")
        if end >= 0:
            return text[end + 3 :].lstrip("\n")
    return text


async def run_editor(app: KvmDeckApp, text: str, name: str) -> str | None:
    """The text after the editor (None: the editor failed to run)."""
    fd, path = tempfile.mkstemp(prefix=f"kvmdeck-{_safe(name)}-", suffix=".xml")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        argv = editor_argv(path)
        try:
            with app.batch_update(), app.suspend():
                proc = await asyncio.create_subprocess_exec(*argv)
                status = await proc.wait()
        except SuspendNotSupported:
            # headless (tests): no terminal to hand over; the editor runs without one
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            status = await proc.wait()
        except OSError as exc:
            app.notify(f"cannot run {argv[0]}: {exc}", severity="error", markup=False)
            return None
        if status != 0:
            app.notify(
                f"{argv[0]} exited with status {status}: the XML was not saved",
                severity="warning",
                markup=False,
            )
            return None
        return Path(path).read_text()
    finally:
        Path(path).unlink(missing_ok=True)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]


def keep_text(name: str, text: str) -> Path:
    """Keep a refused edit (nothing typed is lost) in the cache directory."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kvmdeck" / "xml"
    base.mkdir(parents=True, exist_ok=True)
    p = base / f"{_safe(name)}-{time.strftime('%Y%m%d-%H%M%S')}.xml"
    p.write_text(text)
    return p


def _call(app: KvmDeckApp, name: str, fn: Callable[[], T]) -> asyncio.Future[T]:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def done(value: T) -> None:
        if not fut.done():
            fut.set_result(value)

    def failed(exc: BaseException) -> bool:
        if not fut.done():
            fut.set_exception(exc)
        return True

    assert app.runner is not None
    app.runner.submit(name, fn, done=done, failed=failed)
    return fut


async def xml_loop(app: KvmDeckApp, ops: Provisioning, uuid: str, name: str, base: str) -> str:
    """Edit, diff, define; again on a refusal. Returns what happened (tests read it)."""
    from tui.ui.screens.provision_dialogs import XmlDiffScreen

    text, error = base, ""
    title = f"XML of {name}"
    while True:
        shown = with_error(text, error) if error else text
        edited = await run_editor(app, shown, name)
        if edited is None:
            if error:
                kept = keep_text(name, text)
                return _say(app, title, f"not saved; your refused edit is kept in {kept}")
            return _say(app, title, "not saved")
        if edited == shown and error:
            kept = keep_text(name, text)
            return _say(app, title, f"given up: libvirt refused it; your edit is kept in {kept}")
        edited = without_error(edited)
        if edited.strip() == base.strip():
            return _say(app, title, "no change")
        diff = "".join(
            difflib.unified_diff(
                base.splitlines(keepends=True),
                edited.splitlines(keepends=True),
                f"{name} (saved)",
                f"{name} (edited)",
            )
        )
        yes = await app.push_screen_wait(XmlDiffScreen(name, diff))
        if not yes:
            kept = keep_text(name, edited)
            return _say(app, title, f"not saved; your edit is kept in {kept}")
        try:
            define = functools.partial(ops.define_xml, uuid, edited, base)
            msg = await _call(app, f"define {name}", define)
        except XmlDefineFailed as exc:
            text, error = exc.xml, exc.error
            app.notify(
                f"libvirt refused it: {exc.error}. The editor opens again.",
                title=title,
                severity="warning",
                markup=False,
            )
            app.log_event(f"{title}: libvirt refused the edit: {exc.error}")
            continue
        except BackendError as exc:
            kept = keep_text(name, edited)
            return _say(app, title, f"{exc.message}; your edit is kept in {kept}", "error")
        return _say(app, title, str(msg))


def _say(app: KvmDeckApp, title: str, text: str, severity: str = "information") -> str:
    app.notify(text, title=title, severity=severity, markup=False)  # type: ignore[arg-type]
    app.log_event(f"{title}: {text}")
    return text
