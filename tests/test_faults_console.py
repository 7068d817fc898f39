"""The serial console returns on Ctrl+] whatever the host does (issue 24, item 4).

The real kvmdeck in tmux watches the real libvirtd through the fault proxy; a guest with a pty
serial port; ``c`` opens ``virsh console`` in the terminal. Once virsh is connected the proxy
is stopped (SIGSTOP): the host hangs. On main, Ctrl+] then did nothing (virsh's escape closes
its stream with a call to the silent host) and the terminal stayed with virsh until the host
answered. Now kvmdeck watches the key itself and ends virsh: the main screen is back, and
virsh is gone.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from testbed import bed, faultproxy
from tests.support.tmux import Term

pytestmark = pytest.mark.libvirtd

BACK_WITHIN_S = 10.0  # a bound far below a host that stays hung (it is stopped until the end)


def virsh_consoles(parent: int) -> list[int]:
    """virsh console processes under kvmdeck's pid."""
    out = subprocess.run(
        ["pgrep", "-f", "virsh console"], capture_output=True, text=True
    ).stdout.split()
    found = []
    for pid in map(int, out):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(pid)
    return found


def test_ctrl_bracket_returns_from_the_console_of_a_hung_host(libvirtd: Any) -> None:
    name = f"{bed.PREFIX}{os.getpid()}-c0"  # short: the whole name fits its column
    disk = bed.make_disk(name)
    xml = bed.guest_xml(name, disk, extra_devices="    <serial type='pty'/>\n")
    dom = libvirtd.createXML(xml, 0)
    guest = bed.Guest(name, dom.UUIDString(), disk, False)
    try:
        with faultproxy.running() as proxy:
            term = Term(["-c", proxy.uri, "--refresh", "1"], size=(160, 40))
            try:
                term.wait_screen(lambda s: name in s, 60, "the guest row")
                term.filter_to(name)  # the table has the focus again before "c"
                term.keys("c")
                term.wait_screen(
                    lambda s: "Escape character" in s or "Connected to domain" in s,
                    30,
                    "virsh console connected",
                )
                assert virsh_consoles(term.pid), "no virsh console under kvmdeck"
                proxy.freeze()
                try:
                    time.sleep(1.0)
                    t0 = time.monotonic()
                    term.keys("C-]")
                    term.wait_screen(
                        lambda s: "Name" in s and "Escape character" not in s,
                        BACK_WITHIN_S,
                        "kvmdeck's screen back after Ctrl+]",
                    )
                    back_s = time.monotonic() - t0
                    end = time.monotonic() + BACK_WITHIN_S
                    while virsh_consoles(term.pid) and time.monotonic() < end:
                        time.sleep(0.1)
                    assert not virsh_consoles(term.pid), "virsh console still runs"
                    assert term.alive()
                    print(f"screen back {back_s:.2f} s after Ctrl+] with the host stopped")
                finally:
                    proxy.resume()
            finally:
                term.close()
    finally:
        bed.remove(libvirtd, guest)
