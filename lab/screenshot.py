"""``python -m lab.screenshot``: screenshots/usb.svg from the lab.

kvmdeck's USB screen inside L1 with real devices (udev's hwdb names), one of them owned by the
guest L2. Textual saves the SVG itself: ``TEXTUAL_SCREENSHOT=N`` makes the app save a
screenshot of the current screen N seconds after it is ready (and exit); the keys before that
are typed in tmux like a person would.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from lab.labctl import REPO, Lab, LabError, build_wheel, build_wheelhouse, wait_for

OUT = REPO / "screenshots" / "usb.svg"
SIZE = (170, 44)  # as tests/support/screenshots.py
DELAY_S = 150  # app ready -> screenshot; the steps below take well under it, even under TCG


def shoot(lab: Lab, out: Path = OUT, delay: int = DELAY_S) -> Path:
    stick = lab.plug_storage("stick", serial="4C530001")
    assert stick is not None
    lab.write_file(
        "/tmp/stick.xml",
        "<hostdev mode='subsystem' type='usb' managed='yes'><source>"
        f"<vendor id='0x{stick.vendor}'/><product id='0x{stick.product}'/>"
        f"<address bus='{stick.busnum}' device='{stick.devnum}'/></source></hostdev>",
    )
    lab.virsh("attach-device L2 /tmp/stick.xml --live")
    lab.ssh("rm -rf /root/shots && mkdir -p /root/shots")
    lab.kvmdeck_start(
        "-c qemu:///system",
        size=SIZE,
        env={
            "TEXTUAL_SCREENSHOT": str(delay),
            "TEXTUAL_SCREENSHOT_LOCATION": "/root/shots",
            "TEXTUAL_SCREENSHOT_FILENAME": "usb.svg",
        },
    )
    t0 = time.monotonic()
    lab.wait_screen(r"\bL2\b", timeout=90)
    lab.tmux_keys("u")
    lab.wait_screen("udev on this host", timeout=30)
    lab.wait_screen(r"\bL2\b", timeout=30)  # the stick's owner
    for dev in (
        lab.plug("tablet", "usb-tablet"),
        lab.plug("kbd", "usb-kbd"),
        lab.plug_serial("ftdi"),
    ):
        assert dev is not None
        lab.wait_screen(dev.address, timeout=30)
    used = time.monotonic() - t0
    if used > delay - 10:
        raise LabError(f"the keys took {used:.0f} s, too close to the {delay} s screenshot timer")
    wait_for(
        lambda: lab.ssh_run("test -s /root/shots/usb.svg").returncode == 0,
        delay + 60,
        "Textual's screenshot in L1",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "usb.svg"
        lab.scp_from("/root/shots/usb.svg", str(local))
        svg = local.read_text()
        for must in ("Adomax", "L2", stick.address):
            if must not in svg:
                raise LabError(f"screenshot lacks {must!r}")
        out.write_text(svg)
    return out


def main() -> int:
    lab = Lab()
    lab.ensure_image()
    try:
        lab.boot()
        with tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(sys.executable, Path(tmp))
            lab.install_kvmdeck(wheel, build_wheelhouse(sys.executable, wheel))
        lab.start_guest("L2")
        path = shoot(lab)
        lab.kvmdeck_stop()
    finally:
        lab.stop()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
