"""rules.toml changed while kvmdeck runs: a hand edit is picked up, a broken edit keeps the last
good rules and refuses saving, and two instances saving at once never drop each other's rule
(two coordinators in one process, and two processes hammering the same file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.rules.helpers import RecordingConn, RecordingDomain, usb
from tests.rules.test_coordinator import Harness, attaches, until
from tui.core.usb.rulebook import RULES_CHECK_S
from tui.core.usb.rules import Rule, load_rules, save_rules

FTDI = usb("001", "010", port="1-1")
LOGI = usb("001", "011", vendor=0x046D, product=0xC52B, port="1-2", serial="")

HAND = """\
# mine
[[rule]]
vendor = "0x0403"
product = "0x6001"
guest = "win"
"""


async def started(h: Harness, devices: list) -> None:  # type: ignore[type-arg]
    h.coord.set_devices(devices)
    h.coord.set_port(h.port)
    h.coord.rulebook.load_rules()
    await until(lambda: h.coord.started, "the start pass")
    await h.idle()


async def test_hand_edit_is_picked_up_and_applied(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(HAND)
    win = RecordingDomain("win", active=True, persistent=False)
    h = Harness(RecordingConn([win]), [], rules_file=path)
    await started(h, [FTDI, LOGI])
    assert len(attaches(win)) == 1  # the FTDI rule, present at start
    # Nothing changed: the tick's checks read nothing and say nothing.
    h.coord.tick()
    await h.idle()
    assert h.texts()[-1].startswith("attach 0403:6001")
    # The user adds a rule by hand (in place, as an editor without a rename does).
    with path.open("a") as handle:
        handle.write('\n# the receiver\n[[rule]]\nport = "1-2"\nguest = "win"\n')
    h.clock.now += RULES_CHECK_S  # the next tick looks again
    h.coord.tick()
    await h.idle()
    assert f"USB rules reloaded from {path}: 2 rule(s)" in h.texts()
    assert h.coord.engine is not None and len(h.coord.engine.rules) == 2
    assert len(attaches(win)) == 2 and "device='11'" in attaches(win)[-1]
    assert h.coord.status_lines()[1] == "rule port 1-2 → win: attached — attached to win"


async def test_broken_edit_keeps_the_last_good_rules_and_refuses_saving(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(HAND)
    win = RecordingDomain("win", active=True, persistent=False)
    h = Harness(RecordingConn([win]), [], rules_file=path)
    await started(h, [FTDI])
    good = list(h.coord.engine.rules)  # type: ignore[union-attr]
    broken = HAND.replace('guest = "win"', 'guest = "win"\npersistent = tru')
    path.write_text(broken)
    h.coord.rulebook.check_rules()
    await h.idle()
    problem = h.coord.rulebook.rules_problem()
    assert problem.startswith(f"{path}:6: TOML syntax error")
    assert "The last good rules (1) keep applying; nothing is saved until the file is fixed." in (
        problem
    )
    assert h.texts()[-1] == f"USB rules not reloaded: {problem}"
    assert h.coord.engine is not None and h.coord.engine.rules == good
    refusal = h.coord.rulebook.add_rule(LOGI, "win", False)
    assert refusal is not None and f"fix {path} first" in refusal and ":6:" in refusal
    h.coord.rulebook.check_rules()  # the same broken file again: no second message
    await h.idle()
    assert sum("not reloaded" in t for t in h.texts()) == 1
    assert path.read_text() == broken
    # Fixed by hand: loads again, saving works again.
    path.write_text(HAND.replace('guest = "win"', 'guest = "win"\npersistent = true'))
    h.coord.rulebook.check_rules()
    await h.idle()
    assert h.coord.rulebook.rules_problem() == "" and h.coord.rulebook.rules_error == ""
    assert h.coord.engine.rules == [Rule(0x0403, 0x6001, "win", persistent=True)]
    assert h.coord.rulebook.add_rule(LOGI, "win", False) is None
    await h.idle()
    assert load_rules(path)[-1] == Rule(0x046D, 0xC52B, "win")
    assert path.read_text().startswith("# mine\n[[rule]]\n")


async def test_a_deleted_file_means_no_rules(tmp_path: Path) -> None:
    path = save_rules([Rule(0x0403, 0x6001, "win")], tmp_path / "rules.toml")
    h = Harness(RecordingConn([RecordingDomain("win", active=False, persistent=True)]), [],
                rules_file=path)  # fmt: skip
    await started(h, [FTDI])
    path.unlink()
    h.coord.rulebook.check_rules()
    await h.idle()
    assert h.coord.engine is not None and h.coord.engine.rules == []
    assert h.coord.status_lines() == []


async def test_two_coordinators_on_one_dir_keep_both_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(HAND)
    win = RecordingDomain("win", active=True, persistent=False)
    lab = RecordingDomain("lab", active=True, persistent=False, uuid="6f1c2d7e-0000-4000-8000-2")
    one = Harness(RecordingConn([win, lab]), [], rules_file=path)
    two = Harness(RecordingConn([win, lab]), [], rules_file=path)
    await started(one, [FTDI, LOGI])
    await started(two, [FTDI, LOGI])
    # Each saves a rule the other has not seen: the second save re-reads the file first.
    assert one.coord.rulebook.add_rule(LOGI, "lab", False, by="ids") is None
    assert two.coord.rulebook.add_rule(FTDI, "lab", False, by="port") is None
    await one.idle()
    await two.idle()
    expected = [
        Rule(None, None, "lab", port="1-1"),  # before the rule that matched the FTDI
        Rule(0x0403, 0x6001, "win"),
        Rule(0x046D, 0xC52B, "lab"),
    ]
    assert load_rules(path) == expected
    assert path.read_text().startswith("[[rule]]\nport = ")
    assert "# mine\n[[rule]]\nvendor" in path.read_text()
    # Whichever saved first notices the other's save on its next check (the two saves run
    # on two runners: either may reach the lock first).
    for h in (one, two):
        h.coord.rulebook.check_rules()
        await h.idle()
    for h in (one, two):
        assert h.coord.engine is not None and h.coord.engine.rules == expected


CHILD = """
import sys
from pathlib import Path
from tui.core.usb.rules import Rule, update_rules
path, me, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # start together
for i in range(n):
    rule = Rule(0x1000 + me, i + 1, f"g{me}")
    update_rules(lambda rules: [*rules, rule], path)
print("done", flush=True)
"""


def test_two_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(HAND)
    n = 25
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(me), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
            env=env,
        )
        for me in (1, 2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "done"
            assert p.wait(timeout=120) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    rules = load_rules(path)
    assert len(rules) == 1 + 2 * n
    assert {(r.vendor_id, r.product_id) for r in rules[1:]} == {
        (0x1000 + me, i + 1) for me in (1, 2) for i in range(n)
    }
    assert path.read_text().startswith(HAND)  # the hand-written part, byte for byte
