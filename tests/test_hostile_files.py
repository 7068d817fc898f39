"""config.toml and rules.toml that are not what they seem: nested 500 deep, a FIFO, a device
(a symlink to /dev/null), a directory. The real ``kvmdeck`` process (``python -m tui``) says
which file and the fix, exits 2, never shows a traceback and never hangs. A symlinked
rules.toml stays a symlink and its target keeps its mode; an error at the end of the file
names its last line.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tui.core.usb.rules import Rule, RulesError, load_rules, update_rules

DEEP = "a = " + "[" * 500 + "]" * 500 + "\n"


def make_deep(p: Path) -> None:
    p.write_text(DEEP)


def make_fifo(p: Path) -> None:
    os.mkfifo(p)


def make_device(p: Path) -> None:
    p.symlink_to("/dev/null")


def make_dir(p: Path) -> None:
    p.mkdir()


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep": (make_deep, "nested too deep"),
    "fifo": (make_fifo, "is a named pipe (FIFO), not a file"),
    "device": (make_device, "is a character device, not a file"),
    "directory": (make_dir, "is a directory, not a file"),
}


def kvmdeck(args: list[str], xdg: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(xdg), "CI": os.environ.get("CI", "")}
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # a hang fails here (a FIFO blocked the open for ever before)
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_config_file_is_named_with_its_fix_and_exit_2(kind: str, tmp_path: Path) -> None:
    make, says = HOSTILE[kind]
    path = tmp_path / "config.toml"
    make(path)
    got = kvmdeck(["--config", str(path), "stats", "-c", "test:///default"], tmp_path / "xdg")
    assert got.returncode == 2, got
    assert "Traceback" not in got.stderr and got.stdout == ""
    assert str(path) in got.stderr and says in got.stderr, got.stderr
    assert "move" in got.stderr  # the fix: replace it or move it away
    assert "Fix its permissions" not in got.stderr


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_rules_file_is_named_with_its_fix_and_exit_2(kind: str, tmp_path: Path) -> None:
    make, says = HOSTILE[kind]
    xdg = tmp_path / "xdg"
    (xdg / "kvmdeck").mkdir(parents=True)
    path = xdg / "kvmdeck" / "rules.toml"
    make(path)
    got = kvmdeck(["rules", "--list", "-c", "test:///default"], xdg)
    assert got.returncode == 2, got
    said = got.stdout + got.stderr  # the headless runner reports on stdout, like its log
    assert "Traceback" not in said
    assert str(path) in said and says in said, said
    # the in-process reader says the same (the TUI's rulebook uses it)
    with pytest.raises(RulesError, match=r"start with no rules|Flatten it"):
        load_rules(path)


def test_a_symlinked_rules_file_stays_a_link_and_its_target_keeps_its_mode(
    tmp_path: Path,
) -> None:
    real_dir = tmp_path / "dotfiles"
    real_dir.mkdir()
    target = real_dir / "rules.toml"
    target.write_text(
        'version = 1\n\n[[rule]]\nvendor = "0x0403"\nproduct = "0x6001"\nguest = "a"\n'
    )
    target.chmod(0o644)
    link_dir = tmp_path / "cfg"
    link_dir.mkdir()
    link = link_dir / "rules.toml"
    link.symlink_to(target)
    new = Rule(0x1050, 0x0407, "vault")
    update_rules(lambda rules: [*rules, new], link)
    assert link.is_symlink() and link.resolve() == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert new in load_rules(target)
    assert sorted(p.name for p in real_dir.iterdir()) == ["rules.toml"]  # no temp file left
    assert sorted(p.name for p in link_dir.iterdir() if p.name != ".rules.save.lock") == [
        "rules.toml"
    ]


@pytest.mark.parametrize(
    "text",
    [
        'version = 1\n\n[[rule]]\nvendor = "0x0403"\nproduct = ',
        'version = 1\n\n[[rule]]\nvendor = "0x0403',
        "version = 1\n\n[[rule",
    ],
)
def test_an_error_at_the_end_of_rules_toml_names_the_last_line(text: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    last = len(text.splitlines())
    with pytest.raises(RulesError) as err:
        load_rules(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{last}: TOML syntax error at the end of the file"), message
    assert "somewhere" not in message and ":?:" not in message
