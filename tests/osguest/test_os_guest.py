"""Issue 13 on a guest with a real OS (Debian 12 under TCG, booted once per session):
the agent's address in kvmdeck (detail, table, ``kvmdeck stats``), the serial console from the
keys with Ctrl+] back to an intact screen (the real binary in tmux), and snapshots created,
reverted and deleted from the keys, checked in libvirt. Waits have deadlines; nothing asserts
how long anything took."""

from __future__ import annotations

import json
import re
import subprocess
import time
from typing import Any

import libvirt
import pytest

from testbed import bed
from tests.support.apps import app_until
from tests.support.osguest import OsGuest
from tests.support.tmux import KVMDECK, Term
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions, KvmDeckApp

pytestmark = [pytest.mark.libvirtd, pytest.mark.osguest, pytest.mark.timeout(900)]


def guest_of(app: KvmDeckApp, name: str) -> Any:
    return app.fleet.find(name)


async def open_guest(pilot: Any, app: KvmDeckApp, name: str) -> Any:
    g = await app_until(pilot, lambda: guest_of(app, name), f"row {name}", 60, step=0.2)
    app.select_guest(g.key.row)
    await pilot.pause()
    assert app.table.selected_guest() is not None
    assert app.table.selected_guest().name == name
    return g


# -- addresses -----------------------------------------------------------------------------
async def test_agent_address_shows_in_detail_table_and_stats(os_guest: OsGuest) -> None:
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=1.0))
    async with app.run_test(size=(200, 50)) as pilot:
        g = await open_guest(pilot, app, os_guest.name)
        await app_until(
            pilot,
            lambda: any(a.addr == os_guest.ip for a in g.addresses),
            f"the agent's address {os_guest.ip} in the fleet",
            90,
            step=0.2,
        )
        found = next(a for a in g.addresses if a.addr == os_guest.ip)
        assert found.source == "agent" and found.iface == "eth0" and found.prefix == 24
        assert found.mac.count(":") == 5
        # Exactly one bulk stats call per tick still: the addresses have their own lane.
        ctl = app.controllers[g.key.host]
        session = ctl.backend.session  # type: ignore[union-attr]
        polls = app.fleet.host(g.key.host).polls
        assert session.calls in (polls, polls + 1)  # + the one whose result is on its way
        assert ctl.addr_lane.started >= 1 and ctl.addr_lane.max_concurrent == 1
        # The table's IP column (the terminal is wide enough for it).
        assert "ip" in [c.key for c in app.table.shown]
        await app_until(
            pilot,
            lambda: os_guest.ip in str(app.table.get_cell(g.key.row, "ip")),
            "the IP column",
            30,
            step=0.2,
        )
        # The detail screen: every address with its source.
        await pilot.press("enter")
        await pilot.pause(0.5)
        from tui.ui.screens.detail import GuestDetailScreen

        assert isinstance(app.screen, GuestDetailScreen)
        text = await app_until(
            pilot,
            lambda: os_guest.ip in _detail_addresses(app) and _detail_addresses(app),
            "the address on the detail screen",
            30,
            step=0.2,
        )
        assert "agent" in text and "eth0" in text
    out = subprocess.run(
        [KVMDECK, "stats", "--json", "--count", "1", "--interval", "0.5", "-c", bed.SYSTEM_URI],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout.splitlines()[-1])["guests"]
    mine = next(r for r in rows if r["name"] == os_guest.name)
    assert os_guest.ip in mine["ips"]


def _detail_addresses(app: KvmDeckApp) -> str:
    from textual.widgets import Static

    try:
        widget = app.screen.query_one("#guest-addresses", Static)
    except Exception:
        return ""
    return str(widget.content)


# -- the serial console ---------------------------------------------------------------------
def screen_differences(before: str, after: str, guest: str) -> list[tuple[int, str, str]]:
    """Lines of kvmdeck's screen that differ after the console, besides live figures: every
    line without a digit before (frames, headers, the table's rows' layout, the footer, the
    filter box) must be back as it was, except the event log's new lines: the console's, and
    those of other guests on the shared libvirtd (other tests' guests start and stop meanwhile;
    ``make test`` runs the slow tests beside this one)."""

    def allowed(line: str) -> bool:
        other = re.match(r"\s*\d\d:\d\d:\d\d ", line) is not None and guest not in line
        return "serial console of" in line or other

    b, a = before.splitlines(), after.splitlines()
    if len(b) != len(a):
        return [(-1, f"{len(b)} lines", f"{len(a)} lines")]
    return [
        (i, x, y)
        for i, (x, y) in enumerate(zip(b, a, strict=True))
        if x != y and not re.search(r"[0-9]", x) and not allowed(y)
    ]


def test_serial_console_shows_the_prompt_and_ctrl_bracket_returns(os_guest: OsGuest) -> None:
    term = Term(["-c", bed.SYSTEM_URI, "--refresh", "5"], size=(120, 36))
    try:
        term.wait_screen(lambda s: os_guest.name in s, 60, "the OS guest's row")
        term.filter_to(os_guest.name)  # the table has the focus again before "c"
        before = term.wait_screen(
            lambda s: os_guest.name in s and "kvmdeck-t-" in s, 20, "the filtered row"
        )
        time.sleep(1.0)  # let one frame settle; the comparison below masks moving figures
        before = term.screen()
        term.keys("c")
        term.wait_screen(lambda s: "Escape character is ^]" in s, 60, "virsh console connected")
        term.keys("Enter")
        term.wait_screen(lambda s: "root@kvmdeck-lab" in s, 60, "the guest's root prompt")
        term.keys("-l", "echo kvmdeck-$((6*7))")
        term.keys("Enter")
        term.wait_screen(lambda s: "kvmdeck-42" in s, 60, "the guest's shell answering")
        t0 = time.monotonic()
        term.keys("C-]")
        after = term.wait_screen(
            lambda s: os_guest.name in s and "root@kvmdeck-lab" not in s,
            30,
            "kvmdeck's screen again",
        )
        back_s = time.monotonic() - t0
        time.sleep(1.0)
        after = term.screen()
        print(f"\nCtrl+] -> kvmdeck repainted within {back_s:.2f} s")
        assert term.alive()
        assert "kvmdeck-42" not in after
        diff = screen_differences(before, after, os_guest.name)
        assert not diff, f"{diff}\nbefore:\n{before}\nafter:\n{after}"
        row = [ln for ln in after.splitlines() if os_guest.name in ln and "running" in ln]
        assert row, after  # the guest's row, with its state, where it was
        assert "serial console of" in after  # the event log says the console closed
    finally:
        term.keys("q")
        term.wait_exit(5)
        term.close()


# -- snapshots --------------------------------------------------------------------------------
def _dom(os_guest: OsGuest) -> libvirt.virDomain:
    conn, _ = bed.ensure_libvirtd()
    return conn.lookupByUUIDString(os_guest.uuid)


def _snapshot_names(os_guest: OsGuest) -> set[str]:
    return {s.getName() for s in _dom(os_guest).listAllSnapshots(0)}


def _agent_exec(dom: libvirt.virDomain, argv: list[str]) -> int | None:
    """Run a command in the guest through its agent; its exit code (None: no answer)."""
    import libvirt_qemu

    cmd = {
        "execute": "guest-exec",
        "arguments": {"path": argv[0], "arg": argv[1:], "capture-output": True},
    }
    try:
        pid = json.loads(libvirt_qemu.qemuAgentCommand(dom, json.dumps(cmd), 10, 0))["return"]
        for _ in range(50):
            status = json.loads(
                libvirt_qemu.qemuAgentCommand(
                    dom,
                    json.dumps({"execute": "guest-exec-status", "arguments": pid}),
                    10,
                    0,
                )
            )["return"]
            if status.get("exited"):
                return int(status.get("exitcode", -1))
            time.sleep(0.2)
    except (libvirt.libvirtError, KeyError, ValueError):
        return None
    return None


def _exec_with_deadline(dom: libvirt.virDomain, argv: list[str], deadline_s: float) -> int:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        code = _agent_exec(dom, argv)
        if code is not None:
            return code
        time.sleep(1.0)
    raise AssertionError(f"the guest agent did not run {argv} within {deadline_s} s")


async def test_snapshot_create_revert_delete_from_the_keys(os_guest: OsGuest) -> None:
    from tui.ui.screens.snapshots import NewSnapshotScreen, SnapshotsScreen

    dom = _dom(os_guest)
    marker = "/root/kvmdeck-after-snapshot"
    assert _exec_with_deadline(dom, ["/bin/rm", "-f", marker], 60) == 0
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=1.0))
    async with app.run_test(size=(140, 40)) as pilot:
        await open_guest(pilot, app, os_guest.name)
        await pilot.press("z")
        screen = await app_until(
            pilot,
            lambda: isinstance(app.screen, SnapshotsScreen) and app.screen.loads and app.screen,
            "the snapshots screen",
            30,
            step=0.2,
        )
        assert screen.snaps is not None and screen.snaps.active and not screen.snaps.blocked
        await pilot.press("n")
        dialog = await app_until(
            pilot,
            lambda: isinstance(app.screen, NewSnapshotScreen) and app.screen,
            "the new snapshot dialog",
            10,
            step=0.2,
        )
        from textual.widgets import Checkbox, Input

        name_box = dialog.query_one("#snap-name", Input)
        name_box.value = ""
        await pilot.press(*"kt-snap1")
        dialog.query_one("#snap-desc", Input).focus()
        await pilot.press(*"from the keys")
        assert dialog.query_one("#snap-memory", Checkbox).value  # running: memory by default
        await pilot.press("enter")
        # Progress while libvirt works, then the tree with the new snapshot marked current.
        await app_until(
            pilot,
            lambda: screen.busy or "kt-snap1" in _snapshot_names(os_guest),
            "busy",
            10,
            step=0.2,
        )
        await app_until(
            pilot,
            lambda: not screen.busy and any(s.name == "kt-snap1" for s in screen.snaps.snapshots),
            "the new snapshot in the tree",
            120,
            step=0.2,
        )
        assert "kt-snap1" in _snapshot_names(os_guest)
        snap = dom.snapshotLookupByName("kt-snap1", 0)
        xml = snap.getXMLDesc(0)
        assert "<memory snapshot='internal'/>" in xml and "from the keys" in xml
        assert snap.isCurrent(0)
        current = [s for s in screen.snaps.snapshots if s.current]
        assert [s.name for s in current] == ["kt-snap1"]
        # Change the guest after the snapshot, revert from the keys, the change is gone.
        assert _exec_with_deadline(dom, ["/usr/bin/touch", marker], 60) == 0
        assert _exec_with_deadline(dom, ["/usr/bin/test", "-e", marker], 60) == 0
        await pilot.press("r")
        await pilot.pause(0.3)
        await pilot.press("y")
        await app_until(
            pilot, lambda: not screen.busy and screen.loads >= 3, "the revert", 120, step=0.2
        )
        assert dom.isActive()
        assert _exec_with_deadline(dom, ["/usr/bin/test", "-e", marker], 120) == 1
        # Delete from the keys: asks first, then it is gone from libvirt.
        await pilot.press("d")
        await pilot.pause(0.3)
        await pilot.press("y")
        await app_until(
            pilot,
            lambda: "kt-snap1" not in _snapshot_names(os_guest) and not screen.busy,
            "the snapshot deleted",
            60,
            step=0.2,
        )
        await app_until(pilot, lambda: not screen.snaps.snapshots, "an empty tree", 30, step=0.2)
