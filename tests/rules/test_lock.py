"""The single-instance lock: only one kvmdeck applies the rules."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rules.helpers import event, usb
from tui.config import rules_path
from tui.core.usb.engine import AttachRequest, RuleEngine
from tui.core.usb.rulelock import RulesLock
from tui.core.usb.rules import Rule

HOLDER = (
    "import sys\n"
    "from pathlib import Path\n"
    "from tui.core.usb.rulelock import RulesLock\n"
    "lock = RulesLock(Path(sys.argv[1]))\n"
    "print('locked' if lock.acquire() else 'busy', flush=True)\n"
    "sys.stdin.readline()\n"
)


@pytest.fixture()
def holder() -> Iterator[subprocess.Popen[str]]:
    """Another kvmdeck process holding the lock beside rules.toml."""
    path = RulesLock.beside().path
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_lock_file_sits_beside_rules_toml() -> None:
    assert RulesLock.beside().path == rules_path().with_name("rules.lock")


def test_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    first, second = RulesLock(tmp_path / "rules.lock"), RulesLock(tmp_path / "rules.lock")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_engine_without_the_lock_is_passive_and_names_the_holder(
    holder: subprocess.Popen[str],
) -> None:
    rules = [Rule(0x0403, 0x6001, "win"), Rule(0x046D, 0xC52B, "win")]
    engine = RuleEngine(rules, lock=RulesLock.beside())
    assert engine.sync([usb()], {"win": True}, {}) == []
    logi = usb("001", "011", vendor=0x046D, product=0xC52B, port="1-9")
    assert engine.on_usb_events([event("add", logi)]) == []
    assert not engine.active
    assert [s.state for s in engine.statuses()] == ["passive", "passive"]
    assert engine.statuses()[0].message == f"applied by another kvmdeck (pid {holder.pid})"
    assert engine.tick() == []
    # The other kvmdeck exits: the kernel drops its lock and the next tick takes over.
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait(timeout=10)
    requests = engine.tick()
    assert engine.active
    assert sorted(r.device.devnum for r in requests if isinstance(r, AttachRequest)) == [10, 11]
    assert engine.lock is not None
    engine.lock.release()


def test_killed_holder_frees_the_lock(tmp_path: Path) -> None:
    """A killed holder's lock is free again (flock dies with the process)."""
    path = tmp_path / "rules.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    lock = RulesLock(path)
    assert not lock.acquire() and lock.holder_pid() == proc.pid
    proc.kill()
    proc.wait()
    assert lock.acquire()
    lock.release()
