"""Guest features reached through ``app.guest_feature(<binding id>)``: the serial console and
the snapshots screen, for the guest selected on the main screen or shown on the detail screen.

The serial console runs ``virsh console`` in kvmdeck's own terminal: the app is suspended
(``App.suspend``: alternate screen off, input thread stopped, the terminal as it was before
kvmdeck) while virsh runs on a pseudo-terminal that kvmdeck bridges to it, and Ctrl+] ends it
within half a second whatever virsh or the host does (kvmdeck watches the key itself:
``tui/ui/terminal_console.py``); Textual then repaints the whole screen. The event loop keeps running meanwhile (the subprocess is awaited,
not waited for), so libvirt's keepalive and the polls go on; ``batch_update`` keeps Textual
from painting over the console until it ends. Why not a virStream in a widget: virsh already
handles the terminal (raw mode, escape key, resize, a console already open elsewhere), works
for every URI kvmdeck can open (``qemu+ssh://`` included, through the same ``no_tty=1`` URI),
and leaves nothing of kvmdeck between the operator's keys and the guest.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from typing import TYPE_CHECKING

from textual.app import SuspendNotSupported

from tui.core.ports import BackendError, HostCapabilities
from tui.model.ids import GuestKey
from tui.ui import actions
from tui.ui.terminal_console import run_console
from tui.util import terminal_safe

if TYPE_CHECKING:
    from tui.model.fleet import Guest
    from tui.ui.app import KvmDeckApp

log = logging.getLogger(__name__)

# binding id -> feature
FEATURES = {
    "guest.serial": "serial",
    "detail.serial": "serial",
    "guest.snapshots": "snapshots",
    "detail.snapshots": "snapshots",
}


def target_guest(app: KvmDeckApp) -> Guest | None:
    """The guest shown by the screen on top (detail), else the one selected on the main
    screen."""
    from tui.ui.screens.detail import GuestDetailScreen

    screen = app.screen
    if isinstance(screen, GuestDetailScreen):
        return app.fleet.guest(screen.key)
    return app.main_screen.table.selected_guest()


def host_caps(app: KvmDeckApp, key: GuestKey) -> HostCapabilities | None:
    """The capabilities of the guest's host while it is connected, or None after saying so."""
    if not app.is_up(key.host) or app.runner is None:
        app.notify(f"{key.host} is not connected.", severity="error", markup=False)
        return None
    return app.caps(key.host)


def run(app: KvmDeckApp, binding_id: str) -> None:
    feature = FEATURES.get(binding_id)
    if feature is None:
        raise KeyError(f"no guest feature for {binding_id!r}")
    if actions.refuse(app, binding_id):
        return
    g = target_guest(app)
    if g is None:
        app.notify("No guest selected.", severity="warning")
        return
    if feature == "serial":
        open_serial(app, g, binding_id)
    else:
        open_snapshots(app, g)


# -- snapshots ------------------------------------------------------------------------------
def open_snapshots(app: KvmDeckApp, g: Guest) -> None:
    if app.is_up(g.key.host) and app.caps(g.key.host).snapshots is None:
        app.notify("Snapshots are not available here.", severity="warning")
        return
    from tui.ui.screens.snapshots import SnapshotsScreen

    host = app.fleet.host(g.key.host)
    app.push_screen(SnapshotsScreen(g.key, g.name, host.label))


# -- the serial console ------------------------------------------------------------------------
def open_serial(app: KvmDeckApp, g: Guest, binding_id: str) -> None:
    if not g.sample.active:
        actions.say_refused(app, binding_id, f"{g.name} is {g.sample.state}: s starts it")
        return
    caps = host_caps(app, g.key)
    if caps is None:
        return
    serial = caps.serial
    if serial is None:
        app.notify("The serial console is not available here.", severity="warning")
        return
    uuid, name = g.key.uuid, g.name
    where = f"{name}{app.where(g.key.host)}"

    def failed(exc: BaseException) -> bool:
        if not isinstance(exc, BackendError):
            return False
        app.notify(exc.message, title=f"Serial console of {where}", severity="error", markup=False)
        app.log_event(f"serial console {name}: {exc.message}", key=g.key)
        return True

    def ready(got: tuple[str, tuple[list[str], dict[str, str]]]) -> None:
        shown, (argv, env) = got
        app.run_worker(
            attach(app, shown, argv, env, g.key),
            name=f"serial console {shown}",
            group="serial-console",
            exit_on_error=False,
        )

    # over qemu+ssh:// virsh's ssh rides the host's one ssh connection (the launcher's)
    remote = app.services.is_remote_uri(g.key.host.libvirt_uri)
    ssh_command = app.consoles.launcher.ssh_command if remote and app.services.launcher else None
    assert app.runner is not None
    app.runner.submit(
        f"serial console {name}",
        lambda: (serial.check(uuid), serial.command(uuid, ssh_command)),
        done=ready,
        failed=failed,
    )


HEADER = "kvmdeck: serial console of {name} ({uri}). Ctrl+] returns to kvmdeck.\r\n"


async def attach(
    app: KvmDeckApp, name: str, argv: list[str], env: dict[str, str], key: GuestKey
) -> int | None:
    """Run ``argv`` (virsh console) in the terminal; the app comes back when it ends.
    Returns its exit status (None: no terminal to give it)."""
    with tempfile.TemporaryFile() as err:
        try:
            with app.batch_update(), app.suspend():
                out = sys.__stdout__
                if out is not None:
                    out.write(
                        terminal_safe(
                            HEADER.format(
                                name=name, uri=app.services.display_uri(key.host.libvirt_uri)
                            ).rstrip("\r\n")
                        )
                        + "\r\n"
                    )
                    out.flush()
                stdin = sys.__stdin__.fileno() if sys.__stdin__ is not None else 0
                stdout = out.fileno() if out is not None else 1
                status, escaped = await run_console(argv, env, err, stdin, stdout)
                if escaped:  # Ctrl+]: kvmdeck ended it, whatever virsh was doing
                    status = 0
        except SuspendNotSupported:
            app.notify(
                "The serial console needs a terminal (kvmdeck runs headless here).",
                severity="warning",
            )
            return None
        except OSError as exc:
            app.notify(f"cannot run {argv[0]}: {exc}", severity="error", markup=False)
            return None
        except Exception as exc:  # the one error handler reports it; the app keeps running
            app.errors(f"serial console {name}", exc)
            return None
        err.seek(0)
        text = err.read().decode(errors="replace").strip()
    if status != 0:
        why = text.splitlines()[-1] if text else f"virsh exited with status {status}"
        app.notify(why, title=f"Serial console of {name}", severity="error", markup=False)
        app.log_event(f"serial console {name}: {why}", key=key)
    else:
        app.log_event(f"serial console of {name} closed", key=key)
    return status
