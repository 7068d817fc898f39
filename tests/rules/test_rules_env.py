"""Rules where they cannot be saved: a read-only config dir and a full disk (real tmpfs mounts,
since root ignores chmod), and ``--readonly``. Nothing crashes, nothing is half-written, and
the message says why.

The mounts need root (CAP_SYS_ADMIN). Outside CI a machine that cannot mount skips, naming why;
with CI=true it fails.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import bed
from tests.rules.helpers import RecordingConn, RecordingDomain, usb
from tests.rules.test_coordinator import Harness, until
from tui.cli.wiring_usb import usb_services
from tui.core.usb.headless import EXIT_CONFIG, run_rules
from tui.core.usb.rulelock import RulesLock
from tui.core.usb.rules import Rule, RulesError, load_rules, save_rules, update_rules
from tui.core.usb.rulesfile import SAVE_LOCK_NAME

MINE = '# mine, keep me\n[[rule]]\nvendor = "0x0403"\nproduct = "0x6001"\nguest = "win"\n'


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted on ``where`` (unmounted afterwards, whatever happens)."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where))
    except (OSError, subprocess.CalledProcessError) as exc:
        why = getattr(exc, "stderr", "") or str(exc)
        if bed.in_ci():
            pytest.fail(f"CI=true and cannot mount a tmpfs (run as root): {why}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {why}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False, capture_output=True)


@pytest.fixture()
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A config dir holding MINE, then remounted read-only."""
    with tmpfs(tmp_path / "ro", "1m") as where:
        (where / "rules.toml").write_text(MINE)
        _mount("-o", "remount,ro", str(where))
        yield where


@pytest.fixture()
def full_dir(tmp_path: Path) -> Iterator[Path]:
    """A 16 KiB tmpfs holding MINE and a filler file that used up every byte."""
    with tmpfs(tmp_path / "full", "16k") as where:
        (where / "rules.toml").write_text(MINE)
        fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError) as info:
                while True:
                    os.write(fd, b"x" * 1024)
            assert info.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield where


def test_read_only_dir_refuses_saving_and_says_why(readonly_dir: Path) -> None:
    path = readonly_dir / "rules.toml"
    with pytest.raises(RulesError) as info:
        update_rules(lambda rules: [*rules, Rule(1, 2, "x")], path)
    message = str(info.value)
    assert message.startswith(f"{path}: rules not saved (Read-only file system)")
    assert "the file system is read-only: rules cannot be saved here" in message
    assert load_rules(path) == [Rule(0x0403, 0x6001, "win")]  # reading still works
    assert sorted(p.name for p in readonly_dir.iterdir()) == ["rules.toml"]


async def test_read_only_dir_coordinator_keeps_running(readonly_dir: Path) -> None:
    path = readonly_dir / "rules.toml"
    win = RecordingDomain("win", active=False, persistent=True)
    h = Harness(RecordingConn([win]), [], rules_file=path)
    h.coord.engine = None  # as in the app: the engine (and its lock) come with the file
    h.coord.set_devices([usb()])
    h.coord.set_port(h.port)
    h.coord.rulebook.load_rules()
    await until(lambda: h.coord.started, "the start pass")
    await h.idle()
    engine = h.coord.engine
    assert engine is not None and engine.rules == [Rule(0x0403, 0x6001, "win")]
    assert not engine.active and "cannot create the rules lock" in engine.passive_reason()
    assert h.coord.rulebook.add_rule(usb(), "lab", False) is None  # refused in the job, not a crash
    await h.idle()
    assert "Rules not saved:" in h.texts()[-1] and "read-only" in h.texts()[-1]
    h.coord.tick()
    await h.idle()
    assert path.read_text() == MINE


def test_full_disk_refuses_saving_and_leaves_the_file_whole(full_dir: Path) -> None:
    path = full_dir / "rules.toml"
    before = path.read_bytes()
    big = [Rule(0x1000, i + 1, "g" * 200) for i in range(40)]  # far more than the free bytes
    with pytest.raises(RulesError) as info:
        update_rules(lambda rules: [*rules, *big], path)
    assert "(No space left on device); the file is unchanged" in str(info.value)
    assert "the disk is full: free some space" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in full_dir.iterdir()) == [SAVE_LOCK_NAME, "filler", "rules.toml"]


def test_full_disk_does_not_cost_the_lock(full_dir: Path) -> None:
    """The pid written into rules.lock is informative only: no space is no reason to fail."""
    lock = RulesLock.beside(full_dir / "rules.toml")
    assert lock.acquire()
    lock.release()


async def test_full_disk_coordinator_says_why(full_dir: Path) -> None:
    path = full_dir / "rules.toml"
    h = Harness(RecordingConn([]), [], rules_file=path)
    h.coord.rulebook.load_rules()
    await h.idle()
    for i in range(40):  # more and more rules until one save no longer fits
        h.coord.rulebook.add_rule(usb(product=i + 1, serial=f"S{i:03d}" * 20), "guest" * 20, True)
        await h.idle()
        if "Rules not saved" in h.texts()[-1]:
            break
    assert "No space left on device" in h.texts()[-1]
    assert load_rules(path)  # still a whole, loadable file


def test_readonly_flag_never_writes(tmp_path: Path) -> None:
    path = save_rules([Rule(0x0403, 0x6001, "win")], tmp_path / "rules.toml")
    before = path.read_bytes()
    out = io.StringIO()
    assert (
        run_rules(None, readonly=True, out=out, rules_file=path, services=usb_services())
        == EXIT_CONFIG
    )
    assert "read-only (--readonly)" in out.getvalue()
    assert path.read_bytes() == before


async def test_readonly_coordinator_refuses_rule_changes(tmp_path: Path) -> None:
    path = save_rules([Rule(0x0403, 0x6001, "win")], tmp_path / "rules.toml")
    before = path.read_bytes()
    h = Harness(RecordingConn([]), [], rules_file=path, readonly=True)
    h.coord.rulebook.load_rules()
    await h.idle()
    for refusal in (
        h.coord.rulebook.add_rule(usb(), "lab", False),
        h.coord.rulebook.forget_rules(usb()),
    ):
        assert refusal == "Read-only (--readonly): USB rules are not changed."
    assert path.read_bytes() == before
