"""Reading and driving kvmdeck's screens inside L1 (tmux text), for the lab tests and the bench.

Only what a person sees and types: the USB table's rows as text, keys sent with tmux.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from lab.labctl import Lab, UsbDev

LOCAL_SOURCE = "udev on this host"  # the USB screen's source line (tui/ui/screens/usb.py)
NO_RULES = "No auto-attach rules"
PICKER_HINT = "Enter: pick the guest"  # the guest picker's hint line (a for attach, R for a rule)
MAIN_FOOTER = "u USB"

ROW_RE = re.compile(
    r"(?P<port>\d+-\d+(?:\.\d+)*)\s+(?P<address>\d{3}:\d{3})\s+(?P<ids>[0-9a-f]{4}:[0-9a-f]{4})\s+(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Row:
    port: str
    address: str
    ids: str
    text: str  # the row's line, without a toast over its right end


def table_rows(screen: str) -> list[Row]:
    """The USB table's rows on screen, top to bottom (event-log lines excluded)."""
    rows = []
    for whole in screen.splitlines():
        line = whole.split("▌", 1)[0]  # a toast drawn over the row's right end is not the row
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
    t0 = time.monotonic()
    lab.kvmdeck_start(args)
    screen = lab.wait_screen(r"\bL2\b", timeout=180)
    lab.timings["kvmdeck_start"] = time.monotonic() - t0
    return screen


def open_usb(lab: Lab) -> str:
    lab.tmux_keys("u")
    return lab.wait_screen(LOCAL_SOURCE, timeout=30)


def on_usb_screen(screen: str) -> bool:
    """The USB screen, with no guest picker (a, R) or move confirmation over it."""
    return LOCAL_SOURCE in screen and PICKER_HINT not in screen and "Detach it there" not in screen


def ensure_usb_screen(lab: Lab) -> str:
    """kvmdeck running on its USB screen: start it if its pane is gone; else close what is open
    over the USB screen (Escape), or open it from the main screen (``u``)."""
    if not lab.pane_alive():
        start_main(lab)
        return open_usb(lab)
    for _ in range(4):
        screen = lab.screen()
        if on_usb_screen(screen):
            return screen
        if MAIN_FOOTER in screen:
            return open_usb(lab)
        lab.tmux_keys("Escape")
        time.sleep(0.5)  # let the modal go; the next look decides
    lab.kvmdeck_stop()  # something unexpected: a fresh start
    start_main(lab)
    return open_usb(lab)


def wait_no_rules(lab: Lab, timeout: float = 20) -> str:
    """The USB screen says there are no rules (kvmdeck re-reads rules.toml every 2 s)."""

    def no_rules(screen: str) -> bool:
        return on_usb_screen(screen) and NO_RULES in screen

    return lab.wait_screen(no_rules, timeout=timeout)


RULE_ROW = re.compile(r"(?m)^\s*\d+\s{2,}(\S.*?)\s{2,}(\S.*?)\s*$")


def rule_lines(screen: str) -> list[str]:
    """The USB screen's rules rows ("1  46f4:0001 serial=S → L2   attached — …"), each as
    one status line: "rule 46f4:0001 serial=S → L2: attached — …" (what ``kvmdeck rules``
    prints)."""
    return [f"rule {m.group(1)}: {m.group(2)}" for m in RULE_ROW.finditer(screen)]


def wait_rule(lab: Lab, pattern: str, timeout: float = 30) -> str:
    """Wait until a rule-status line matches ``pattern`` (a regex); return that line."""

    def has_rule(screen: str) -> bool:
        return any(re.search(pattern, line) for line in rule_lines(screen))

    has_rule.__name__ = f"a rule line matching {pattern!r}"
    screen = lab.wait_screen(has_rule, timeout=timeout)
    return next(line for line in rule_lines(screen) if re.search(pattern, line))


def wait_row(
    lab: Lab, dev: UsbDev, *more: str, absent: tuple[str, ...] = (), timeout: float = 30
) -> Row:
    """Wait until the USB table has the row of ``dev`` (its port, bus:dev, ids, serial) holding
    every string of ``more`` and, after the serial (Speed, Owner), none of ``absent``; return
    it. The table follows udev and libvirt asynchronously: never assert on one look."""

    def matches(r: Row) -> bool:
        after = r.text.split(dev.serial, 1)[1] if dev.serial in r.text else ""
        return (
            r.port == dev.port
            and r.address == dev.address
            and r.ids == dev.ids
            and all(s in r.text for s in (dev.serial, *more))
            and not any(s in after for s in absent)
        )

    def has_row(screen: str) -> bool:
        return any(matches(r) for r in table_rows(screen))

    no = f" without {' '.join(absent)}" if absent else ""
    has_row.__name__ = f"row {dev.port} {dev.address} {dev.ids} {' '.join(more)}{no}"
    screen = lab.wait_screen(has_row, timeout=timeout)
    return next(r for r in table_rows(screen) if matches(r))


def select_row(lab: Lab, dev: UsbDev) -> None:
    """Put the table's cursor on ``dev``'s row: Up as many times as there are rows (to the
    top; Textual's DataTable moves its row cursor on ctrl+home, not on Home), then Down as many
    times as rows above it."""
    rows = table_rows(lab.screen())
    index = [r.port for r in rows].index(dev.port)
    lab.tmux_keys(*(["Up"] * len(rows)), *(["Down"] * index))


def open_picker(lab: Lab, dev: UsbDev, key: str, title: str) -> str:
    """Select ``dev``'s row and press ``key`` (``a``, ``R``) until the guest picker opens with
    ``title`` in its title (the row order may change between a look and the keys: then Escape
    and again, up to three times); return the screen."""
    screen = ""
    for _ in range(3):
        select_row(lab, dev)
        lab.tmux_keys(key)
        # the picker's title wraps for long names: look at it with the box's lines joined
        screen = lab.wait_screen(lambda text: PICKER_HINT in text, timeout=30)
        if title in _joined(screen):
            return screen
        lab.tmux_keys("Escape")
        lab.wait_screen(on_usb_screen, timeout=30)
    raise AssertionError(f"the picker of {key} never named {title!r}:\n{screen}")


def attach_from_keys(lab: Lab, dev: UsbDev, guest: str = "L2") -> None:
    """On the USB screen: select the row, ``a``, check the picker names this device, pick
    ``guest`` (Down to it), Enter."""
    screen = open_picker(lab, dev, "a", f"({dev.ids}, {dev.address}) to:")
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


def rule_from_keys(lab: Lab, dev: UsbDev, guest: str = "L2", match: str = "") -> None:
    """On the USB screen: select the row, ``R``, in the picker ``m`` until the match line
    starts with ``match`` ("by port", "by serial", "by vendor:product"; "" keeps the default),
    then pick ``guest`` and Enter."""
    screen = open_picker(lab, dev, "R", f"({dev.ids}) to:")  # names: udev's, not sysfs'
    if match:
        for _ in range(4):
            now = _match_line(screen)
            if now.startswith(match):
                break
            lab.tmux_keys("m")
            screen = lab.wait_screen(lambda text, was=now: _match_line(text) != was, timeout=15)
        else:
            raise AssertionError(f"no 'Match: {match}' in the rule picker:\n{screen}")
    options = re.findall(r"(\S+)\s+\((running|shut off|paused)[^)]*\)", screen)
    names = [name for name, _ in options]
    index = names.index(guest) if guest in names else 0
    lab.tmux_keys(*(["Down"] * index), "Enter")


def _match_line(screen: str) -> str:
    """The rule picker's "Match: …" choice ("by port 1-3: whatever …"), or ""."""
    m = re.search(r"Match: (.*?)\s*[█▌▐│┃]?\s*$", screen, re.M)
    return m.group(1) if m else ""
