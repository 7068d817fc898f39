"""The real ``kvmdeck --demo`` in tmux, as an operator sees it over SSH (issue 11).

At 80x24 with the 6 demo guests every guest row is visible, ``? Keys`` and ``q Quit`` show,
and Enter opens the top row's guest; at 120x40 the CPU, memory, disk and net columns show
without sideways scrolling.
"""

from __future__ import annotations

from tests.support.tmux import Term
from tests.test_app_demo import DEMO_GUESTS


def _table_header(text: str) -> str:
    return next((line for line in text.splitlines() if line.lstrip().startswith("Name")), "")


def test_demo_at_80x24_every_row_help_quit_and_enter() -> None:
    term = Term(["--demo"], size=(80, 24))
    try:
        text = term.wait_screen(
            lambda t: all(name in t for name in DEMO_GUESTS) and "? Keys" in t,
            30,
            "every demo guest and the footer",
        )
        lines = text.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        footer = lines[-1]
        assert "? Keys" in footer and "q Quit" in footer
        header = _table_header(text)
        for column in ("Name", "State", "CPU%", "Mem", "Disk", "Net"):
            assert column in header, (column, header)
        rows = [line for line in lines if line.split() and line.split()[0] in DEMO_GUESTS]
        assert [r.split()[0] for r in rows] == sorted(DEMO_GUESTS)  # by name, all on screen
        term.keys("Enter")  # the cursor starts on the top row: archive
        term.wait_screen(lambda t: "archive on " in t, 10, "archive's detail")
        term.keys("q")  # back, not quit
        term.wait_screen(lambda t: _table_header(t) != "", 10, "the guest list again")
        assert term.alive()
        term.keys("q")
        assert term.wait_exit(10) is not None, "q on the main screen quits"
    finally:
        term.close()


def test_demo_at_120x40_shows_cpu_mem_disk_net() -> None:
    term = Term(["--demo"], size=(120, 40))
    try:
        text = term.wait_screen(
            lambda t: all(name in t for name in DEMO_GUESTS), 30, "every demo guest"
        )
        header = _table_header(text)
        for column in ("Name", "State", "CPU%", "Mem", "Disk", "Net"):
            assert column in header, (column, header)
        assert all(len(line) <= 120 for line in text.splitlines())
    finally:
        term.close()


# Issue 22, item 5: every key of the main screen in its footer; labels shorten before they go.
MAIN_KEYS = ("?", "q", "⏎", "s", "h", "r", "p", "X", "v", "w", "c", "z", "u", "d", "/")


def _footer_keys(footer: str) -> list[str]:
    """The keys of a compact footer line, in order: its one-character words (labels are
    longer: "k Label" or a bare "k")."""
    return [w for w in footer.split() if len(w) == 1]


def test_footer_every_main_key_at_80x24_and_120x40() -> None:
    for size, labelled in (
        ((80, 24), ("? Keys", "q Quit", "⏎ Open", "h Shut", "X Off", "v View")),
        ((120, 40), ("⏎ Detail", "w Wins", "c Tty", "z Snap", "u USB", "d Doc", "/ Find")),
    ):
        term = Term(["--demo"], size=size)
        try:
            text = term.wait_screen(
                lambda t: all(name in t for name in DEMO_GUESTS) and "q Quit" in t,
                30,
                "every demo guest and the footer",
            )
            footer = text.rstrip("\n").splitlines()[-1]
            assert len(footer) <= size[0]
            assert _footer_keys(footer) == list(MAIN_KEYS), (size, footer)
            for word in labelled:
                assert word in footer, (size, word, footer)
        finally:
            term.close()


def test_console_commands_unwrapped_with_the_host_as_reached() -> None:
    """Issue 22, item 4: without a display, v shows the commands one a row, never broken in
    the middle (they scroll sideways), and names no host libvirt guessed (``root@vm``)."""
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "SSH_CONNECTION": ""}
    for size in ((80, 24), (120, 40)):
        term = Term(["--demo"], size=size, env=env)
        try:
            term.wait_screen(lambda t: "web-frontend" in t and "q Quit" in t, 30, "the guests")
            term.keys("End", "Up", "v")  # web-frontend: running, SPICE
            text = term.wait_screen(lambda t: "ssh -N" in t, 15, "the console commands")
            rows = [line.strip(" █▌▐│") for line in text.splitlines()]
            ssh = next(r for r in rows if r.startswith("ssh -N"))
            assert ssh.endswith("@THIS-HOST"), (size, ssh)  # the whole command on its row
            viewer = next(r for r in rows if r.startswith("virt-viewer"))
            assert "--spice-usbredir" in viewer, (size, viewer)
            assert not any(r.startswith(("--connect", "web-frontend", "spice://")) for r in rows)
            assert "@vm" not in text and "THIS-HOST: this machine" in text
        finally:
            term.close()
