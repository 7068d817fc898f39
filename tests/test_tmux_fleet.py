"""The real kvmdeck binary in tmux with 50 test-driver hosts of 20 guests each, two down hosts
and a hung one (a loopback listener that never answers), named in a ``[[hosts]]`` config
(issue 23): the hosts take one summary line, rows name their host at 80 columns, and the
hosts screen lists every host with its cause."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.fleet import Fleet, make_fleet
from tests.support.tmux import Term


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = make_fleet(tmp_path_factory.mktemp("fleet"), hosts=50, guests=20, down=2, hung=1)
    yield fleet
    fleet.close()


def guest_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " h" in line and "-vm" in line]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_fifty_hosts_in_tmux(bed: Fleet, size: tuple[int, int]) -> None:
    assert bed.config is not None
    term = Term(["--config", str(bed.config)], size=size)
    try:

        def first_host_polled(t: str) -> bool:  # "50 up" can come before kvm00's first poll
            rows = guest_lines(t)
            return len(rows) >= 12 and all(row.split()[1] == "kvm00" for row in rows[:12])

        text = term.wait_screen(
            lambda t: "53 hosts" in t and "50 up" in t and first_host_polled(t),
            60,
            "the summary line and the guest rows",
        )
        lines = text.splitlines()
        assert len(lines) <= size[1] and all(len(line) <= size[0] for line in lines)
        assert "DEMO" not in text  # not every host is the test driver
        header = next(line for line in lines if line.lstrip().startswith("Name"))
        assert "Host" in header
        rows = guest_lines(text)
        assert len(rows) >= 12
        assert all(row.split()[1] == "kvm00" for row in rows[:12])  # h00-… on kvm00
        assert "keyfile" not in text and "?" not in "".join(lines[:2])
        term.keys("O")  # sort by host: descending after a second O
        term.keys("O")
        term.wait_screen(
            lambda t: bool(guest_lines(t)) and guest_lines(t)[0].split()[1] == "kvm49",
            10,
            "kvm49's guests first",
        )
        term.keys("H")
        text = term.wait_screen(lambda t: "kvm00" in t and "Reconnect" in t, 10, "hosts screen")
        assert "kvm00" in text and "up" in text
        for _ in range(52):
            term.keys("Down")
        text = term.wait_screen(lambda t: "hung00" in t and "fix:" in t, 20, "the hung host")
        assert "no answer" in text
        term.keys("Escape")
        term.wait_screen(lambda t: "Name" in t, 10, "the guest list")
        term.keys("q")
        assert term.wait_exit(10) is not None
    finally:
        term.close()
