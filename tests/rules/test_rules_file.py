"""rules.toml: round trip, validation messages, atomic writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.config import config_path, rules_path
from tui.core.usb.rules import Rule, RulesError, dump_rules, load_rules, save_rules
from tui.core.usb.rulesfile import SAVE_LOCK_NAME

RULES = [
    Rule(0x0403, 0x6001, "win11", serial="A5XK3RJT", persistent=True),
    Rule(0x046D, 0xC52B, 'dev "box" é', port="1-1.2"),
    Rule(0x1050, 0x0407, "lab"),
]


def test_round_trip_beside_config_toml() -> None:
    path = save_rules(RULES)
    assert path == rules_path() and path.parent == config_path().parent
    assert not config_path().exists()  # kvmdeck never writes config.toml
    assert load_rules() == RULES
    text = path.read_text()
    assert 'vendor = "0x046d"' in text and 'port = "1-1.2"' in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_missing_file_means_no_rules(tmp_path: Path) -> None:
    assert load_rules(tmp_path / "nope.toml") == []


def test_hand_written_ids_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nvendor = "046D"\nproduct = 0xc52b\nguest = "g"\n')
    assert load_rules(path) == [Rule(0x046D, 0xC52B, "g")]


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        (
            '[[rule]]\nvendor = "zz"\nproduct = "0x1"\nguest = "g"\n',
            ["rule 1", "key 'vendor'", "hex USB id", "'zz'"],
        ),
        ('[[rule]]\nproduct = "0x1"\nguest = "g"\n', ["rule 1", "key 'vendor' is missing"]),
        ('[[rule]]\nvendor = "1"\nproduct = "2"\nguest = ""\n', ["key 'guest'", "Fix 'guest'"]),
        (
            '[[rule]]\nvendor = "1"\nproduct = "2"\nguest = "g"\nport = "usb1"\n',
            ["key 'port'", "1-1.2"],
        ),
        (
            '[[rule]]\nvendor = "1"\nproduct = "2"\nguest = "g"\npersistent = "yes"\n',
            ["key 'persistent'", "true or false"],
        ),
        (
            '[[rule]]\nvendor = "1"\nproduct = "2"\nguest = "g"\nguset = "x"\n',
            ["unknown key 'guset'", "spelling"],
        ),
        ('[rule]\nvendor = "1"\n', ["[[rule]]", "double brackets"]),
        ('colour = "red"\n', ["unknown top-level key 'colour'"]),
        ('[[rule]]\nvendor = "1d6b"\nproduct = "2"\nguest = "g"\n', ["root hub"]),
        (
            '[[rule]]\nvendor = "1"\nproduct = "2"\nguest = "a"\n'
            '[[rule]]\nvendor = "0x0001"\nproduct = "2"\nguest = "b"\n',
            ["rule 2 matches the same devices as rule 1", "serial"],
        ),
        ('[[rule]\nvendor = "1"\n', ["rules.toml:1:", "TOML syntax error"]),
    ],
)
def test_invalid_file_names_file_key_and_fix(tmp_path: Path, body: str, needles: list[str]) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(body)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for needle in needles:
        assert needle in message, message


def test_save_refuses_rules_it_could_not_read_back(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(dump_rules(RULES))
    with pytest.raises(RulesError):
        save_rules([Rule(1, 2, "a"), Rule(1, 2, "b")], path)
    assert load_rules(path) == RULES


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_rules(RULES, tmp_path / "rules.toml")

    def broken_replace(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(RulesError) as info:
        save_rules(RULES[:1], path)
    assert "the file is unchanged" in str(info.value) and "disk is full" in str(info.value)
    assert load_rules(path) == RULES
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [SAVE_LOCK_NAME, "rules.toml"]  # temp file cleaned


def test_crash_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    """A process killed between writing the temp file and the rename: old file intact."""
    path = save_rules(RULES, tmp_path / "rules.toml")
    before = path.read_bytes()
    child = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from tui.core.usb.rules import Rule, save_rules\n"
        "os.replace = lambda *a: os._exit(9)  # die right before the rename\n"
        f"save_rules([Rule(1, 2, 'new')], Path({str(path)!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], cwd=Path(__file__).parents[2])
    assert done.returncode == 9
    assert path.read_bytes() == before
    assert load_rules(path) == RULES
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("rules.toml", SAVE_LOCK_NAME)]
    assert leftovers and all(n.startswith(".rules.toml.") for n in leftovers)  # it did write
