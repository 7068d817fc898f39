"""The display doctor, make-SPICE-ready and the viewer's USB filters: the pure parts.

The XML is the test bed's real guest XML (``bed.guest_xml``), and the generated XML goes through
the real ``virt-xml-validate``; no libvirtd needed here (the e2e file has the real guests).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from rich.text import Text

from testbed import bed
from tests.conftest import need
from tui.adapters.launch import client_instructions, vv_text
from tui.adapters.launch.usbfilter import auto_filter, connect_filter, viewer_options
from tui.adapters.libvirt.domxml import parse_domain
from tui.adapters.libvirt.graphics import DisplayTarget
from tui.adapters.libvirt.spice_ready import diff, make_spice_ready, redact
from tui.core.display import display_findings, format_text, verdict
from tui.model.display import Finding, Level
from tui.ui.widgets.display_doctor import findings_text

DISK = Path("/var/lib/libvirt/images/kvmdeck-test/x.qcow2")
XHCI = "<controller type='usb' model='qemu-xhci'/>"


def _status(
    xml: str, remote: bool = False, local: bool = False, secure: bool = False
) -> dict[str, Finding]:
    info = parse_domain(xml, secure=secure)
    return {f.name: f for f in display_findings(info, remote, local)}


def validate(xml: str, tmp_path: Path) -> None:
    tool = need(bed.require_cmd, "virt-xml-validate", "libvirt-clients")
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    run = subprocess.run([tool, str(path), "domain"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


# -- the doctor ---------------------------------------------------------------------------------
def test_bed_guest_lacks_agent_usbredir_and_sound() -> None:
    f = _status(bed.guest_xml("g", DISK))
    assert f["Graphics"].status is Level.OK and f["Graphics"].detail == "SPICE"
    assert f["Video"].status is Level.OK and f["Video"].detail == "qxl"
    assert f["USB controller"].status is Level.OK and "qemu-xhci" in f["USB controller"].detail
    for name in ("Agent channel", "USB redirection", "Sound"):
        assert f[name].status is Level.WARN, f[name]
        assert "make SPICE-ready" in f[name].fix
    assert "greyed out" in f["USB redirection"].detail
    # 127.0.0.1, the operator on a workstation: reachable through the tunnel only.
    assert f["Listen"].status is Level.INFO and "ssh tunnel" in f["Listen"].detail
    assert f["Ports"].status is Level.INFO and "autoport" in f["Ports"].detail
    assert f["Password"].status is Level.INFO and "not known" in f["Password"].detail
    assert verdict(f.values()) is Level.WARN


def test_after_make_ready_every_spice_line_is_ok(tmp_path: Path) -> None:
    new, added = make_spice_ready(bed.guest_xml("g", DISK))
    assert len(added) == 3  # agent, usbredir, sound (xhci is there)
    f = _status(new, local=True)
    for name in ("Agent channel", "USB redirection", "Sound", "USB controller", "Listen"):
        assert f[name].status is Level.OK, f[name]
    assert f["USB redirection"].detail.startswith("2 usbredir channels")
    assert verdict(f.values()) is Level.OK
    validate(new, tmp_path)


def test_password_is_known_only_from_secure_xml_and_never_shown() -> None:
    xml = bed.guest_xml("g", DISK, password="hunter2-xyz")
    f = _status(xml)
    assert f["Password"].status is Level.OK and f["Password"].detail.startswith("set")
    text = format_text("g", list(f.values()))
    assert "hunter2-xyz" not in text
    assert _status(bed.guest_xml("g", DISK), secure=True)["Password"].detail.startswith("none")


def test_reachability_depends_on_where_the_viewer_runs() -> None:
    xml = bed.guest_xml("g", DISK)
    assert "ssh tunnel (qemu+ssh" in _status(xml, remote=True)["Listen"].detail
    assert _status(xml, local=True)["Listen"].status is Level.OK
    open_xml = xml.replace("127.0.0.1", "0.0.0.0")
    wide = _status(open_xml, secure=True)["Listen"]
    assert wide.status is Level.WARN and "without a password" in wide.detail
    assert "listen=127.0.0.1" in wide.fix
    with_pw = bed.guest_xml("g", DISK, password="x").replace("127.0.0.1", "0.0.0.0")
    assert _status(with_pw)["Listen"].status is Level.OK
    nowhere = xml.replace(
        "<listen type='address' address='127.0.0.1'/>", "<listen type='none'/>"
    ).replace(" listen='127.0.0.1'", "")
    assert _status(nowhere)["Listen"].status is Level.FAIL


def test_vnc_only_no_graphics_old_usb_and_vga() -> None:
    vnc = bed.guest_xml("g", DISK).replace("type='spice'", "type='vnc'")
    vnc = vnc.replace("<model type='qxl'/>", "<model type='vga'/>").replace(XHCI, "")
    f = _status(vnc)
    assert f["Graphics"].status is Level.WARN and "VNC only" in f["Graphics"].detail
    assert f["Video"].status is Level.WARN and "model.type=qxl" in f["Video"].fix
    assert f["USB controller"].status is Level.WARN  # no controller element: the default
    none = bed.guest_xml("g", DISK)
    start = none.index("<graphics")
    none = none[:start] + none[none.index("</graphics>") + len("</graphics>") :]
    f = _status(none)
    assert f["Graphics"].status is Level.FAIL and "Listen" not in f
    uhci = bed.guest_xml("g", DISK).replace(XHCI, "<controller type='usb' model='piix3-uhci'/>")
    f = _status(uhci)
    assert f["USB controller"].status is Level.WARN and "USB 3" in f["USB controller"].detail


def test_findings_render_as_plain_text() -> None:
    xml = bed.guest_xml("ev[/]il", DISK).replace("127.0.0.1", "10.[b]0.0.1")
    f = display_findings(parse_domain(xml), False, False)
    text = findings_text(f)
    assert isinstance(text, Text)
    assert "10.[b]0.0.1" in text.plain and "virt-xml" in text.plain and "'ev[/]il'" in text.plain
    assert text.plain.startswith("Display: not fully SPICE-ready")


# -- make SPICE-ready: the transform ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("swap", "expect"),
    [
        ((XHCI, XHCI), ["spicevmc agent", "2 usbredir", "sound device (ich6)"]),
        ((XHCI, ""), ["qemu-xhci USB controller (USB 3, index 0)", "spicevmc", "2 usbredir"]),
        (
            (XHCI, "<controller type='usb' index='0' model='piix3-uhci'/>"),
            ["qemu-xhci USB controller (USB 3, index 1)", "spicevmc", "2 usbredir"],
        ),
        (
            (XHCI, "<controller type='usb' index='0' model='none'/>"),
            ["qemu-xhci USB controller (instead of model='none'", "spicevmc", "2 usbredir"],
        ),
        (("type='spice'", "type='vnc'"), ["SPICE graphics on 127.0.0.1", "spicevmc"]),
        (("machine='pc'", "machine='q35'"), ["spicevmc", "2 usbredir", "sound device (ich9)"]),
    ],
)
def test_make_spice_ready_adds_what_is_missing(
    swap: tuple[str, str], expect: list[str], tmp_path: Path
) -> None:
    old = bed.guest_xml("g", DISK, password="pw-secret").replace(*swap)
    new, added = make_spice_ready(old)
    for phrase, got in zip(expect, added, strict=False):
        assert got.startswith(phrase), added
    validate(new, tmp_path)
    again, more = make_spice_ready(new)  # idempotent
    assert more == [] and again == new
    f = _status(new)
    assert all(f[n].status is Level.OK for n in ("Agent channel", "USB redirection", "Sound"))
    assert "pw-secret" in new  # defineXML must keep the password …
    shown = diff(old, new, "g")
    assert "pw-secret" not in shown  # … the diff never shows it
    assert all(line.startswith(("+", " ", "@", "-")) for line in shown.splitlines())


def test_uhci_guest_gets_redirdevs_on_the_new_xhci_bus() -> None:
    old = bed.guest_xml("g", DISK).replace(
        XHCI, "<controller type='usb' index='0' model='piix3-uhci'/>"
    )
    new, _ = make_spice_ready(old)
    assert new.count("<address type='usb' bus='1' port=") == 2
    assert "<controller type='usb' index='1' model='qemu-xhci' ports='15'/>" in new


def test_redact_hides_every_password_form() -> None:
    assert redact("<graphics passwd='a b' x='1'/>") == "<graphics passwd='(hidden)' x='1'/>"
    assert redact('<graphics passwd="q"/>') == "<graphics passwd='(hidden)'/>"


# -- the viewer side: USB filters -------------------------------------------------------------------
def test_filters() -> None:
    assert auto_filter() == "0x03,-1,-1,-1,0|-1,-1,-1,-1,1"
    assert connect_filter([]) is None
    devs = [(0x0781, 0x5567), (0x0781, 0x5567), (0x046D, 0xC52B)]
    assert auto_filter(devs) == (
        "-1,0x0781,0x5567,-1,1|-1,0x046d,0xc52b,-1,1|0x03,-1,-1,-1,0|-1,-1,-1,-1,1"
    )
    assert connect_filter(devs) == "-1,0x0781,0x5567,-1,1|-1,0x046d,0xc52b,-1,1|-1,-1,-1,-1,0"
    assert viewer_options(devs) == [
        f"--spice-usbredir-auto-redirect-filter={auto_filter(devs)}",
        f"--spice-usbredir-redirect-on-connect={connect_filter(devs)}",
    ]


def test_vv_and_client_commands_carry_the_usb_options() -> None:
    t = DisplayTarget(
        "web1", "hv1", "spice", "127.0.0.1", 5901, password="pw", usb_redirect=((0x0781, 0x5567),)
    )
    lines = vv_text(t).splitlines()
    assert "enable-usb-autoshare=1" in lines
    assert f"usb-filter={auto_filter([(0x0781, 0x5567)])}" in lines
    env = {"SSH_CONNECTION": "198.51.100.7 51234 192.0.2.10 22", "USER": "ops"}
    ins = client_instructions(t, "qemu:///system", env)
    viewer = ins.commands[-1]
    assert viewer.startswith("remote-viewer '--spice-usbredir-auto-redirect-filter=-1,0x0781")
    assert "'--spice-usbredir-redirect-on-connect=-1,0x0781,0x5567,-1,1|-1,-1,-1,-1,0'" in viewer
    assert "--spice-usbredir-redirect-on-connect" in ins.commands[0]  # virt-viewer too
    assert any("0781:5567 also when already plugged in" in n for n in ins.notes)
    vnc = DisplayTarget("web1", "hv1", "vnc", "127.0.0.1", 5901, usb_redirect=((1, 2),))
    assert "usb" not in vv_text(vnc) and "usbredir" not in client_instructions(vnc, None, env).text
