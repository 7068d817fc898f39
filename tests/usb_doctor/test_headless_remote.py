"""``kvmdeck rules --once`` against a host whose USB is libvirt node devices (the test driver,
as for qemu+ssh://): the rules see that host's devices, not this machine's udev (which has no
USB bus at all here)."""

from __future__ import annotations

import io
from pathlib import Path

from tui.adapters.libvirt.connection import demo_uri
from tui.cli.wiring_usb import usb_services
from tui.core.usb.headless import run_rules


def test_rules_once_reads_the_hosts_node_devices(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nvendor = "0781"\nproduct = "5581"\nguest = "archive"\n')
    out = io.StringIO()
    assert run_rules(demo_uri(), once=True, out=out, rules_file=rules, services=usb_services()) == 0
    text = out.getvalue()
    assert "4 USB device(s)" in text  # usb1, usb_1_4, usb_1_5, usb_2_3 of the test host
    assert "rule 0781:5581 → archive: pending — guest 'archive' is off" in text
    assert "not plugged in" not in text
