"""Issue 16 end to end, on real components: libvirtd with persistent TCG guests, the real
``virt-xml-validate``, a real remote-viewer under Xvfb, and the real app under Pilot.

- the display doctor on a real guest, before and after make-SPICE-ready (library and CLI);
- make-ready, then a start: the live XML holds the agent channel, the usbredir devices, sound;
- remote-viewer connects and its ``--debug`` log shows the usbredir (and audio) channels open;
- the ``.vv`` (read before launch) and the headless dialog carry the USB options;
- the S key: diff modal, y, saved config changed; ``--readonly`` refuses with the reason.

Waits use deadlines, never timed assertions.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import secrets
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from textual.widgets import Static

from testbed import bed
from tests.conftest import need
from tests.support.apps import app_until
from tui.adapters.launch import ClientInstructions, Launcher, ViewerState, open_console
from tui.adapters.libvirt.domxml import parse_domain
from tui.adapters.libvirt.graphics import read_guest_display, resolve_display
from tui.adapters.libvirt.spice_ready import apply, plan
from tui.cli.doctor import run_guest
from tui.cli.main import main as cli_main
from tui.cli.wiring import make_app
from tui.core.display import display_findings, verdict
from tui.model.display import Level
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.console import ClientCommandDialog
from tui.ui.screens.detail import GuestDetailScreen
from tui.ui.screens.spice_ready import SpiceReadyScreen
from tui.ui.widgets.display_doctor import DisplayDoctor

pytestmark = [pytest.mark.libvirtd]

SAVED = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
STICK = (0x0781, 0x5567)  # a USB stick on the operator's machine, named by a rule
ON_CONNECT = "--spice-usbredir-redirect-on-connect=-1,0x0781,0x5567,-1,1|-1,-1,-1,-1,0"
_count = iter(range(1000))


def _define(conn: libvirt.virConnect, password: str | None) -> bed.Guest:
    name = f"{bed.PREFIX}{os.getpid()}-sr{next(_count)}"
    disk = bed.make_disk(name)
    dom = conn.defineXML(bed.guest_xml(name, disk, password=password))
    return bed.Guest(name, dom.UUIDString(), disk, True, password)


@pytest.fixture()
def pguest(libvirtd: libvirt.virConnect) -> Iterator[bed.Guest]:
    """A persistent TCG guest (shut off) with SPICE on 127.0.0.1 and a password."""
    g = _define(libvirtd, f"pw{secrets.token_hex(6)}")
    yield g
    conn, _ = bed.ensure_libvirtd()
    bed.remove(conn, g)


def _validate(xml: str, tmp_path: Path) -> None:
    tool = need(bed.require_cmd, "virt-xml-validate", "libvirt-clients")
    path = tmp_path / "new.xml"
    path.write_text(xml)
    run = subprocess.run([tool, str(path), "domain"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _make_ready(conn: libvirt.virConnect, g: bed.Guest, tmp_path: Path) -> None:
    p = plan(conn, g.name)
    assert p.persistent and p.needed
    _validate(p.new_xml, tmp_path)
    assert g.password and g.password not in p.diff and g.password in p.new_xml
    message = apply(conn, g.name, p.new_xml, p.base_xml)
    assert "takes effect when the guest starts" in message


# -- the display doctor ------------------------------------------------------------------------------
def test_doctor_on_a_real_guest_without_then_with_the_channels(
    libvirtd: libvirt.virConnect,
    pguest: bed.Guest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    got = read_guest_display(libvirtd, pguest.name, readonly=False)
    assert got.persistent and not got.active and got.secure
    assert all(g.password is None for g in got.info.graphics)  # only whether it is set
    f = {x.name: x for x in display_findings(got.info, remote=False, client_local=False)}
    assert f["Password"].status is Level.OK
    for name in ("Agent channel", "USB redirection", "Sound"):
        assert f[name].status is Level.WARN, f[name]
    assert f["USB controller"].status is Level.OK

    out = io.StringIO()
    assert run_guest(bed.SYSTEM_URI, pguest.name, True, out=out, env={}) == 1
    doc = json.loads(out.getvalue())
    assert doc["verdict"] == "warn" and doc["persistent"] is True and doc["running"] is False
    assert pguest.password not in out.getvalue()

    _make_ready(libvirtd, pguest, tmp_path)

    got = read_guest_display(libvirtd, pguest.name, readonly=False)
    f = {x.name: x for x in display_findings(got.info, remote=False, client_local=False)}
    for name in ("Agent channel", "USB redirection", "Sound", "USB controller", "Password"):
        assert f[name].status is Level.OK, f[name]
    assert verdict(f.values()) is Level.OK
    # The real CLI: text, exit 0; a read-only connection cannot know the password.
    assert cli_main(["doctor", "--guest", pguest.name, "-c", bed.SYSTEM_URI]) == 0
    text = capsys.readouterr().out
    assert "SPICE-ready" in text and "2 usbredir channels" in text
    assert pguest.password not in text
    cli_main(["--readonly", "doctor", "--guest", pguest.name, "--json", "-c", bed.SYSTEM_URI])
    ro = json.loads(capsys.readouterr().out)
    pw = next(x for x in ro["findings"] if x["name"] == "Password")
    assert pw["status"] == "info" and "not known" in pw["detail"]
    assert cli_main(["doctor", "--guest", "no-such-guest-x", "-c", bed.SYSTEM_URI]) == 2
    assert "no-such-guest-x" in capsys.readouterr().err


# -- make-ready, start, a real viewer ----------------------------------------------------------------
@pytest.mark.xvfb
def test_ready_guest_boots_with_the_devices_and_the_viewer_opens_usbredir(
    libvirtd: libvirt.virConnect, pguest: bed.Guest, launcher: Launcher, tmp_path: Path
) -> None:
    _make_ready(libvirtd, pguest, tmp_path)
    dom = libvirtd.lookupByName(pguest.name)
    dom.create()
    live = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    devices = ET.fromstring(live).find("devices")
    assert devices is not None
    names = [t.get("name") for t in devices.iterfind("channel[@type='spicevmc']/target")]
    assert names == ["com.redhat.spice.0"]
    assert len(devices.findall("redirdev[@type='spicevmc']")) == 2
    assert [s.get("model") for s in devices.findall("sound")] == ["ich6"]
    assert f"passwd='{pguest.password}'" in live  # make-ready kept the password
    assert parse_domain(live).display.usbredir == 2  # type: ignore[union-attr]

    target = dataclasses.replace(
        resolve_display(libvirtd, pguest.name, readonly=False), usb_redirect=(STICK,)
    )
    prepared = launcher.prepare(target)
    vv = prepared.vv_path.read_text().splitlines()  # before launch: remote-viewer deletes it
    assert "enable-usb-autoshare=1" in vv
    assert "usb-filter=-1,0x0781,0x5567,-1,1|0x03,-1,-1,-1,0|-1,-1,-1,-1,1" in vv
    info = launcher.wait(launcher.spawn(prepared), 30)
    assert info.state is ViewerState.CONNECTED, info.detail
    argv = Path(f"/proc/{info.pid}/cmdline").read_bytes().decode().split("\0")
    assert ON_CONNECT in argv and pguest.password not in " ".join(argv)
    log_path = launcher.log_path(info)
    assert log_path is not None

    def channels_opened() -> bool:
        # the viewer logs each channel as it opens, in no fixed order: wait for all of them
        text = log_path.read_text()
        return text.count("new usbredir channel") >= 2 and "SpicePlaybackChannel" in text

    bed.wait_for(channels_opened, 20, what="the viewer's usbredir and playback channels")
    text = log_path.read_text()
    assert "SpiceUsbredirChannel 0" in text and "SpiceUsbredirChannel 1" in text
    assert "SpicePlaybackChannel" in text  # the sound device reaches the viewer
    print("\n" + "\n".join(ln for ln in text.splitlines() if "usbredir" in ln.lower()))
    launcher.close(info)


# -- the app: headless dialog, the S key, --readonly --------------------------------------------------
async def _detail(pilot: Any, app: KvmDeckApp, name: str) -> GuestDetailScreen:
    row = await app_until(
        pilot,
        lambda: next((r for label, r in app.guest_choices() if label == name), None),
        f"the row of {name}",
        30.0,
    )
    app.select_guest(row)
    await pilot.press("enter")
    return await app_until(
        pilot,
        lambda: app.screen if isinstance(app.screen, GuestDetailScreen) else None,
        "the detail screen",
        30.0,
    )


def _doctor_text(screen: GuestDetailScreen) -> str:
    return screen.query_one("#display-doctor", DisplayDoctor).text.plain


async def test_s_key_shows_the_diff_and_applies_it(
    libvirtd: libvirt.virConnect, pguest: bed.Guest
) -> None:
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=5.0))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _detail(pilot, app, pguest.name)
        await app_until(
            pilot,
            lambda: "not fully SPICE-ready" in _doctor_text(screen),
            "the display doctor",
            30.0,
        )
        assert "USB redirection: no usbredir channel" in _doctor_text(screen)
        await pilot.press("S")
        modal = await app_until(
            pilot,
            lambda: app.screen if isinstance(app.screen, SpiceReadyScreen) else None,
            "the diff",
            30.0,
        )
        diff = str(modal.query_one("#spice-ready-diff-text", Static).content)
        assert "+    <channel type='spicevmc'>" in diff
        assert diff.count("+    <redirdev bus='usb' type='spicevmc'/>") == 2
        assert pguest.password and pguest.password not in diff
        region = modal.query_one("#spice-ready").region
        assert region.height <= 24 and region.width <= 80
        before = libvirtd.lookupByName(pguest.name).XMLDesc(SAVED)
        await pilot.press("y")

        def saved() -> str | None:
            xml = libvirtd.lookupByName(pguest.name).XMLDesc(SAVED)
            return xml if xml != before else None

        after = await app_until(pilot, saved, "the saved config to change", 30.0)
        assert "com.redhat.spice.0" in after and after.count("<redirdev") == 2
        assert f"passwd='{pguest.password}'" in after
        await app_until(
            pilot,
            lambda: _doctor_text(screen).startswith("Display: SPICE-ready"),
            "the doctor to see the new config",
            30.0,
        )
        messages = [n.message for n in app._notifications]
        assert any("takes effect when the guest starts" in m for m in messages), messages


async def test_readonly_refuses_the_s_key_with_the_reason(pguest: bed.Guest) -> None:
    app = make_app(
        AppOptions(uris=[bed.SYSTEM_URI], readonly=True, vt_badge="KVM: test", refresh=5.0)
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await _detail(pilot, app, pguest.name)
        await pilot.press("S")
        messages = await app_until(
            pilot,
            lambda: [n.message for n in app._notifications if "read-only" in n.message],
            "condition",
            30.0,
        )
        assert messages == [
            "read-only: restart without --readonly to change a guest's saved config"
        ]
        assert not isinstance(app.screen, SpiceReadyScreen)


async def test_headless_dialog_shows_the_redirect_flags_of_the_rule(
    libvirtd: libvirt.virConnect,
    pguest: bed.Guest,
    headless_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A USB rule names a device for this guest: the commands ask the viewer to redirect it."""
    from tui.config import rules_path
    from tui.core.usb.rules import Rule, save_rules

    save_rules([Rule(*STICK, guest=pguest.name)], rules_path())
    libvirtd.lookupByName(pguest.name).create()
    for key in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(key, raising=False)
    for key in ("SSH_CONNECTION", "XDG_RUNTIME_DIR", "USER"):
        monkeypatch.setenv(key, headless_env[key])
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=5.0))
    async with app.run_test(size=(120, 40)) as pilot:
        row = await app_until(
            pilot,
            lambda: next((r for n, r in app.guest_choices() if n == pguest.name), None),
            "condition",
            30.0,
        )
        app.select_guest(row)
        await pilot.press("v")
        dialog = await app_until(
            pilot,
            lambda: app.screen if isinstance(app.screen, ClientCommandDialog) else None,
            "the client command dialog",
            30.0,
        )
        ins: ClientInstructions = dialog.instructions
        shown = " ".join(str(s.content) for s in dialog.query(Static))
        viewer = ins.commands[-1]
        assert viewer.startswith("remote-viewer '--spice-usbredir-auto-redirect-filter=-1,0x0781")
        assert f"'{ON_CONNECT}'" in viewer and viewer in shown
        assert "0781:5567 also when already plugged in" in shown
        assert pguest.password and pguest.password not in shown
    # The library call too: a choice made by the caller, no rule needed.
    lau = Launcher(env=headless_env)
    got = open_console(libvirtd, pguest.name, bed.SYSTEM_URI, False, lau, usb_redirect=[(1, 2)])
    assert isinstance(got, ClientInstructions)
    assert "-1,0x0001,0x0002,-1,1|-1,-1,-1,-1,0" in got.text
    lau.shutdown()
