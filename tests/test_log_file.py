"""``--log PATH``: a path that cannot be opened is a message and exit 2 (no traceback); a full
disk (a real 64 KiB tmpfs, as root) is one notice in the app and nothing on the terminal
(``logging`` would print ``--- Logging error ---`` there).
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.rules.test_rules_env import tmpfs
from tests.support.apps import app_until
from tests.support.tmux import Term
from tests.test_app_demo import DEMO_GUESTS, demo_app, wait_rows
from tui import logsetup
from tui.logsetup import LogFileError, setup_logging


def fill(where: Path) -> None:
    """Use up every byte of the file system at ``where``."""
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as info:
            while True:
                os.write(fd, b"x" * 1024)
        assert info.value.errno == errno.ENOSPC
    finally:
        os.close(fd)


def no_permission(tmp_path: Path) -> Path:
    """A path this user cannot create a file in (root ignores modes: sysfs refuses it)."""
    if os.geteuid() == 0:
        return Path("/sys/kernel/kvmdeck-hardtext.log")
    d = tmp_path / "locked"
    d.mkdir(mode=0o500)
    return d / "k.log"


@pytest.mark.parametrize("case", ["missing dir", "directory", "no permission"])
def test_a_log_path_that_cannot_be_opened_is_a_message_and_exit_2(
    case: str, tmp_path: Path
) -> None:
    path = {
        "missing dir": tmp_path / "nope" / "k.log",
        "directory": tmp_path,
        "no permission": no_permission(tmp_path),
    }[case]
    fix = {
        "missing dir": "its directory does not exist",
        "directory": "it is a directory",
        "no permission": "no permission to write there",
    }[case]
    got = subprocess.run(
        [sys.executable, "-m", "tui", "--log", str(path), "stats", "-c", "test:///default"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )
    assert got.returncode == 2, got
    assert "Traceback" not in got.stderr and got.stdout == ""
    assert f"--log {path}: cannot open it" in got.stderr and fix in got.stderr, got.stderr


def test_setup_logging_raises_a_named_error() -> None:
    with pytest.raises(LogFileError, match="cannot open it"):
        setup_logging(Path("/nonexistent-hardtext/k.log"))
    setup_logging(None)


async def test_a_full_disk_is_one_notice_and_nothing_on_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "logfs", "64k") as where:
        path = where / "kvmdeck.log"
        setup_logging(path)
        try:
            app = demo_app()
            async with app.run_test(size=(160, 45)) as pilot:
                await wait_rows(pilot, app, len(DEMO_GUESTS))
                fill(where)
                log = logging.getLogger("tui.test")
                for i in range(300):  # far more than the page cache would hold back
                    log.debug("line %d %s", i, "x" * 400)
                await app_until(
                    pilot, lambda: any("cannot write" in e for e in app.fleet.events), "notice"
                )
                lines = [e for e in app.fleet.events if "cannot write" in e]
                assert len(lines) == 1, list(app.fleet.events)
                assert f"--log {path}: cannot write (No space left on device)" in lines[0]
                assert "free some space" in lines[0]
        finally:
            setup_logging(None)
    _out, err = capfd.readouterr()
    assert "Logging error" not in err and "No space left" not in err, err


def test_a_full_disk_in_the_real_terminal_leaves_the_terminal_clean(tmp_path: Path) -> None:
    """The real binary in tmux (the pane kept after it ends): the notice shows on screen, and
    the terminal never gets ``--- Logging error ---``, during the run or at exit."""
    with tmpfs(tmp_path / "logfs", "64k") as where:
        path = where / "kvmdeck.log"
        path.touch()
        fill(where)
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        term = Term(["--demo", "--log", str(path)], size=(160, 45), env=env, remain_on_exit=True)
        try:
            text = term.wait_screen(lambda t: "cannot write" in t, 30, "the log-file notice")
            assert "Logging error" not in text
            term.keys("q")
            assert term.wait_exit(15) is not None
            left = term.screen(history=True)
        finally:
            term.close()
            term.wait_exit(5)  # gone before the tmpfs is unmounted
        assert "Logging error" not in left and "No space left" not in left, left
        assert "Traceback" not in left, left


def test_listeners_hear_the_first_failure_once() -> None:
    heard: list[str] = []
    handler = logsetup.QuietFileHandler(os.devnull)
    remove = logsetup.on_write_failure(heard.append)
    try:
        record = logging.LogRecord("tui.x", logging.INFO, __file__, 1, "m", None, None)
        for _ in range(3):
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                handler.handleError(record)
        assert len(heard) == 1 and "No space left on device" in heard[0]
    finally:
        remove()
        handler.close()
        setup_logging(None)
