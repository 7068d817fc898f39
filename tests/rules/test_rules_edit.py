"""Saving a change edits the user's rules.toml: comments, blank lines, key order and the other
rules stay byte for byte; only the one rule's lines change. Rules by port alone. Messages name
the file and the line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.rules.helpers import usb
from tui.core.usb.headless import EXIT_OK, list_rules
from tui.core.usb.rules import (
    Rule,
    RulesError,
    edit_rules,
    load_rules,
    match_choices,
    save_rules,
    update_rules,
)

MINE = """\
# My USB rules -- hand-written, please keep this comment.
version = 1   # the format

# The FTDI cable on the desk
[[rule]]
guest = "win11"          # the Windows VM
vendor = "0403"
product = 0x6001
persistent = true

# The Logitech receiver, any port
[[rule]]
vendor = "0x046d"
product = "0xc52b"
guest = "lab"
# (a note about the receiver)

# Whatever is plugged into the front port
[[rule]]
port = "2-1.3"
guest = "kiosk"
"""

FTDI = Rule(0x0403, 0x6001, "win11", persistent=True)
LOGI = Rule(0x046D, 0xC52B, "lab")
FRONT = Rule(None, None, "kiosk", port="2-1.3")


@pytest.fixture()
def mine(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(MINE)
    return path


def test_hand_written_file_loads(mine: Path) -> None:
    assert load_rules(mine) == [FTDI, LOGI, FRONT]


def test_adding_a_rule_appends_its_lines_and_keeps_every_byte(mine: Path) -> None:
    new = Rule(0x1050, 0x0407, "vault", serial="YK1")
    assert update_rules(lambda rules: [*rules, new], mine) == [FTDI, LOGI, FRONT, new]
    assert mine.read_text() == MINE + (
        '\n[[rule]]\nvendor = "0x1050"\nproduct = "0x0407"\nguest = "vault"\nserial = "YK1"\n'
        "persistent = false\n"
    )
    assert oct(mine.stat().st_mode & 0o777) == "0o600"


def test_forgetting_a_rule_removes_its_lines_and_its_comment_only(mine: Path) -> None:
    update_rules(lambda rules: [r for r in rules if r != LOGI], mine)
    gone = (
        "# The Logitech receiver, any port\n[[rule]]\n"
        'vendor = "0x046d"\nproduct = "0xc52b"\nguest = "lab"\n# (a note about the receiver)\n\n'
    )
    assert gone in MINE
    assert mine.read_text() == MINE.replace(gone, "")
    assert load_rules(mine) == [FTDI, FRONT]


def test_forgetting_the_last_rule_leaves_no_trailing_blank_lines(mine: Path) -> None:
    update_rules(lambda rules: rules[:2], mine)
    assert mine.read_text() == MINE.split("\n# Whatever is plugged")[0]


def test_changing_a_rules_guest_edits_it_in_place(mine: Path) -> None:
    moved = Rule(0x0403, 0x6001, "linux", persistent=False)
    update_rules(lambda rules: [moved, *rules[1:]], mine)
    assert mine.read_text() == MINE.replace(
        'guest = "win11"          # the Windows VM', 'guest = "linux"          # the Windows VM'
    ).replace("persistent = true\n", "persistent = false\n")
    assert load_rules(mine) == [moved, LOGI, FRONT]


def test_a_new_rule_before_another_goes_above_that_rules_comment(mine: Path) -> None:
    first = Rule(None, None, "kiosk2", port="1-4")
    update_rules(lambda rules: [rules[0], first, *rules[1:]], mine)
    text = mine.read_text()
    head, tail = MINE.split("# The Logitech receiver", 1)
    block = '[[rule]]\nport = "1-4"\nguest = "kiosk2"\npersistent = false\n\n'
    assert text == head + block + "# The Logitech receiver" + tail
    assert load_rules(mine) == [FTDI, first, LOGI, FRONT]


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    original = MINE.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    moved, new = Rule(0x0403, 0x6001, "x"), Rule(None, None, "y", port="3-1")
    update_rules(lambda rules: [moved, *rules[1:], new], path)  # one edit in place, one added
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")  # no bare LF anywhere
    assert load_rules(path) == [moved, LOGI, FRONT, new]
    assert data.startswith(original.split(b"guest = ")[0])
    assert original.split(b"# The Logitech")[1] in data


def test_an_inline_array_file_is_edited_through_tomlkit(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '# inline style\nrule = [  # mine\n  {vendor = "1", product = "2", guest = "a"},\n'
        '  {vendor = "3", product = "4", guest = "b"},\n]\n'
    )
    update_rules(lambda rules: [rules[1], Rule(7, 8, "c")], path)
    text = path.read_text()
    assert text.startswith("# inline style\nrule = [  # mine\n")
    assert load_rules(path) == [Rule(3, 4, "b"), Rule(7, 8, "c")]


def test_no_change_writes_nothing(mine: Path) -> None:
    before = mine.stat()
    rules, sig = edit_rules(lambda rules: rules, mine)
    assert rules == [FTDI, LOGI, FRONT] and sig is not None
    after = mine.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_new_file_gets_kvmdecks_header(tmp_path: Path) -> None:
    path = save_rules([FRONT], tmp_path / "sub" / "rules.toml")
    text = path.read_text()
    assert text.startswith("# kvmdeck USB auto-attach rules.") and "version = 1\n" in text
    assert text.endswith('[[rule]]\nport = "2-1.3"\nguest = "kiosk"\npersistent = false\n')
    assert load_rules(path) == [FRONT]


def test_a_symlinked_rules_file_is_written_through(tmp_path: Path, mine: Path) -> None:
    link = tmp_path / "conf" / "rules.toml"
    link.parent.mkdir()
    link.symlink_to(mine)
    update_rules(lambda rules: rules[:1], link)
    assert link.is_symlink() and load_rules(mine) == [FTDI]


# -- a file that does not load is never written -------------------------------------------------
@pytest.mark.parametrize(
    ("broken", "line", "needle"),
    [
        (MINE.replace("persistent = true", "persistent = tru"), 9, "TOML syntax error"),
        (MINE.replace('product = "0xc52b"', 'product = "zz"'), 14, "rule 2: key 'product'"),
        (MINE.replace('port = "2-1.3"', 'port = "front"'), 20, "rule 3: key 'port'"),
        (MINE.replace('guest = "lab"', 'guets = "lab"'), 15, "rule 2: unknown key 'guets'"),
        (MINE.replace('vendor = "0403"\n', ""), 5, "rule 1: key 'vendor' is missing"),
    ],
)
def test_broken_file_is_refused_naming_file_and_line(
    tmp_path: Path, broken: str, line: int, needle: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(broken)
    for attempt in (
        lambda: update_rules(lambda rules: [*rules, Rule(1, 2, "x")], path),
        lambda: save_rules([Rule(1, 2, "x")], path),
        lambda: load_rules(path),
    ):
        with pytest.raises(RulesError) as info:
            attempt()
        message = str(info.value)
        assert message.startswith(f"{path}:{line}:"), message
        assert needle in message, message
        assert path.read_text() == broken  # never written


def test_a_change_that_would_not_load_is_never_written(mine: Path) -> None:
    with pytest.raises(RulesError) as info:
        update_rules(lambda rules: [*rules, Rule(0x0403, 0x6001, "twice", persistent=True)], mine)
    assert "matches the same devices as rule 1" in str(info.value)
    with pytest.raises(RulesError) as info:
        update_rules(lambda rules: [*rules, Rule(1, 2, "bad/name")], mine)
    assert "key 'guest'" in str(info.value)
    assert mine.read_text() == MINE


# -- rules by port alone -------------------------------------------------------------------------
def test_port_rule_matches_whatever_is_plugged_into_that_port() -> None:
    assert FRONT.matches(usb(port="2-1.3"))
    assert FRONT.matches(usb(port="2-1.3", vendor=0x046D, product=0xC52B, serial=""))
    assert not FRONT.matches(usb(port="2-1.4"))
    assert FRONT.describe() == "port 2-1.3 → kiosk" and FRONT.ids == ""
    by_both = Rule(None, None, "k", serial="S1", port="1-2")
    assert by_both.matches(usb(port="1-2", serial="S1"))
    assert not by_both.matches(usb(port="1-2", serial="S2"))


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[[rule]]\nguest = "g"\n', "key 'vendor' is missing"),
        ('[[rule]]\nvendor = "1"\nguest = "g"\nport = "1-2"\n', "Give both vendor and product"),
        ('[[rule]]\nguest = "g"\nserial = "S"\n', "key 'vendor' is missing"),
        ('[[rule]]\nguest = "g"\nport = "usb1"\n', "key 'port' must be a USB port path"),
        (
            '[[rule]]\nport = "1-2"\nguest = "a"\n\n[[rule]]\nport = "1-2"\nguest = "b"\n',
            "rule 2 matches the same devices as rule 1 (port 1-2)",
        ),
    ],
)
def test_port_rule_validation(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(body)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert needle in str(info.value)


def test_rule_for_a_device_by_serial_ids_or_port() -> None:
    dev = usb(port="1-1.2", serial="A5XK3RJT")
    assert Rule.for_device(dev, "g") == Rule(0x0403, 0x6001, "g", serial="A5XK3RJT")
    assert Rule.for_device(dev, "g", by="ids") == Rule(0x0403, 0x6001, "g")
    assert Rule.for_device(dev, "g", by="port", persistent=True) == Rule(
        None, None, "g", port="1-1.2", persistent=True
    )
    assert [k for k, _ in match_choices(dev)] == ["serial", "ids", "port"]
    assert [k for k, _ in match_choices(usb(serial="", port="usb_x"))] == ["ids"]
    assert Rule.for_device(usb(serial=""), "g") == Rule(0x0403, 0x6001, "g")


def test_rules_list_shows_port_rules(mine: Path) -> None:
    out = io.StringIO()
    assert list_rules(out, rules_file=mine) == EXIT_OK
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{mine}: 3 rule(s)")
    assert lines[1:] == [
        "  1  0403:6001 → win11 (persistent)",
        "  2  046d:c52b → lab",
        "  3  port 2-1.3 → kiosk",
    ]


def test_a_header_lookalike_in_a_string_falls_back_to_tomlkit_safely(tmp_path: Path) -> None:
    """A multi-line string holding a "[[rule]]" line fools the line scan: the edit goes
    through tomlkit's document instead, and the result is checked before it is written."""
    path = tmp_path / "rules.toml"
    odd = "x\n[[rule]]\ny"
    path.write_text(
        f"# odd\n[[rule]]\nvendor = \"1\"\nproduct = \"2\"\nguest = \"a\"\nserial = '''{odd}'''\n"
    )
    update_rules(lambda rules: [*rules, Rule(3, 4, "b")], path)
    assert load_rules(path) == [Rule(1, 2, "a", serial=odd), Rule(3, 4, "b")]
    assert path.read_text().startswith("# odd\n[[rule]]\n")
