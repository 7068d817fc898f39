"""Reading and driving kvmdeck's screens inside L1 (tmux text), for the lab tests and the bench.

Only what a person sees and types: the USB table's rows as text, keys sent with tmux.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.labctl import Lab, UsbDev

ROW_RE = re.compile(
    r"(?P<port>\d+-\d+(?:\.\d+)*)\s+(?P<address>\d{3}:\d{3})\s+(?P<ids>[0-9a-f]{4}:[0-9a-f]{4})\s+(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Row:
    port: str
    address: str
    ids: str
    text: str  # the whole line


def table_rows(screen: str) -> list[Row]:
    """The USB table's rows on screen, top to bottom (event-log lines excluded)."""
    rows = []
    for line in screen.splitlines():
        m = ROW_RE.search(line)
        if m and not re.search(r"\d\d:\d\d:\d\d\.\d{3}", line):
            rows.append(Row(m["port"], m["address"], m["ids"], line))
    return rows


def fmt_speed(speed: str) -> str:
    """sysfs Mbit/s -> the USB screen's Speed column ("5000" -> "5G", "12" -> "12M")."""
    value = float(speed)
    return f"{value / 1000:g}G" if value >= 1000 else f"{value:g}M"


def start_main(lab: Lab, args: str = "-c qemu:///system --refresh 5") -> str:
    """Start kvmdeck in tmux in L1 and wait for L2's row on the main screen. A 5 s refresh:
    under TCG each tick costs L1 a lot of CPU, and USB rows come from udev events anyway."""
    lab.kvmdeck_start(args)
    return lab.wait_screen(r"\bL2\b", timeout=90)


def open_usb(lab: Lab) -> str:
    lab.tmux_keys("u")
    return lab.wait_screen("udev on this host", timeout=30)


def ensure_usb_screen(lab: Lab) -> str:
    """kvmdeck running on its USB screen: start it if its pane is gone, else go back to the
    main screen (Escape) and press ``u`` again."""
    if not lab.pane_alive():
        start_main(lab)
        return open_usb(lab)
    screen = lab.screen()
    if "udev on this host" in screen and "Attach " not in screen:
        return screen
    lab.tmux_keys("Escape")
    lab.wait_screen(r"u USB", timeout=30)
    return open_usb(lab)


def wait_row(lab: Lab, dev: UsbDev, *more: str, timeout: float = 30) -> Row:
    """Wait until the USB table has the row of ``dev`` (its port, bus:dev, ids, serial) holding
    every string of ``more``; return it."""

    def has_row(screen: str) -> bool:
        return any(
            r.port == dev.port
            and r.address == dev.address
            and r.ids == dev.ids
            and all(s in r.text for s in (dev.serial, *more))
            for r in table_rows(screen)
        )

    has_row.__name__ = f"row {dev.port} {dev.address} {dev.ids} {' '.join(more)}"
    screen = lab.wait_screen(has_row, timeout=timeout)
    return next(r for r in table_rows(screen) if r.port == dev.port)


def select_row(lab: Lab, dev: UsbDev) -> None:
    """Put the table's cursor on ``dev``'s row: Home, then Down as many times as rows above."""
    rows = table_rows(lab.screen())
    index = [r.port for r in rows].index(dev.port)
    lab.tmux_keys("Home", *(["Down"] * index))


def attach_from_keys(lab: Lab, dev: UsbDev, guest: str = "L2") -> None:
    """On the USB screen: select the row, ``a``, check the picker names this device, pick
    ``guest`` (Down to it), Enter."""
    select_row(lab, dev)
    lab.tmux_keys("a")
    # the picker's title wraps for long names: look at it with the box's lines joined
    screen = lab.wait_screen(
        lambda text: f"({dev.ids}, {dev.address}) to:" in _joined(text), timeout=30
    )
    options = re.findall(r"(\S+)\s+\((running|shut off|paused)[^)]*\)", screen)
    names = [name for name, _ in options]
    index = names.index(guest) if guest in names else 0
    lab.tmux_keys(*(["Down"] * index), "Enter")


def _joined(screen: str) -> str:
    """The screen's text with line breaks and box borders removed (for wrapped titles)."""
    return re.sub(r"\s*[│┃║▊▎▌▐|]\s*", " ", " ".join(line.strip() for line in screen.splitlines()))


def detach_from_keys(lab: Lab, dev: UsbDev) -> None:
    select_row(lab, dev)
    lab.tmux_keys("d")
