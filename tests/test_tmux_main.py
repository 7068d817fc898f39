"""The real ``kvmdeck --demo`` in tmux, as an operator sees it over SSH (issue 11).

At 80x24 with the 6 demo guests every guest row is visible, ``? Help`` and ``q Quit`` show,
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
            lambda t: all(name in t for name in DEMO_GUESTS) and "? Help" in t,
            30,
            "every demo guest and the footer",
        )
        lines = text.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        footer = lines[-1]
        assert "? Help" in footer and "q Quit" in footer
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
