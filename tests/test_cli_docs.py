"""The README and ``--help`` match the code (issue 22, item 7): every option and subcommand the
README documents is one the parser has, and every option the parser has is documented."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli.main import build_parser

README = (Path(__file__).parent.parent / "README.md").read_text()
KVMDECK = str(Path(sys.executable).with_name("kvmdeck"))
SUBCOMMANDS = ("doctor", "stats", "rules")


def _parsers() -> dict[str, argparse.ArgumentParser]:
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return {"": p, **sub.choices}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}


def _usage() -> list[str]:
    block = README.split("## Usage", 1)[1].split("```", 2)[1]
    return [line.split("#", 1)[0] for line in block.splitlines() if line.startswith("kvmdeck")]


def _documented() -> dict[str, set[str]]:
    """Subcommand ("" for the TUI) -> the options the README names for it: the Usage block,
    and `kvmdeck SUB --opt` / `SUB --opt` in the prose."""
    found: dict[str, set[str]] = {}
    for line in _usage():
        words = line.split()
        sub = words[1] if len(words) > 1 and words[1] in SUBCOMMANDS else ""
        found.setdefault(sub, set()).update(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line))
    span = re.compile(r"`(?:kvmdeck )?(" + "|".join(SUBCOMMANDS) + r")((?: [^`]*)?)`")
    for sub, rest in span.findall(README):
        found.setdefault(sub, set()).update(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", rest))
    return found


def test_every_documented_option_exists() -> None:
    parsers = _parsers()
    for sub, options in _documented().items():
        assert sub in parsers, f"README documents `kvmdeck {sub}`, which does not exist"
        missing = options - _options(parsers[sub])
        assert not missing, f"README documents {sorted(missing)} for `kvmdeck {sub}`"


def test_every_option_is_documented() -> None:
    for sub, parser in _parsers().items():
        lines = [line for line in _usage() if (line.split()[1:2] == [sub]) == bool(sub)]
        assert lines, f"`kvmdeck {sub}` is not in the README's Usage"
        text = "\n".join(lines)
        for action in parser._actions:
            names = [o for o in action.option_strings if o not in ("-h", "--help")]
            if names:
                assert any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text) for o in names), (
                    f"`kvmdeck {sub}` has {names}, the README's Usage does not say so"
                )


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help_of_each_subcommand(sub: str) -> None:
    out = subprocess.run([KVMDECK, sub, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for option in _documented().get(sub, set()):
        assert option in out.stdout, (sub, option)


def test_rules_once_with_no_rules_exits_0(tmp_path: Path) -> None:
    """The README: "`rules --once` with no rules exits" (main said: unrecognized arguments)."""
    import os

    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}  # no rules file: no rules
    out = subprocess.run(
        [KVMDECK, "rules", "--once", "-c", "test:///default"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "unrecognized arguments" not in out.stderr
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "no rules, nothing to do" in out.stdout
