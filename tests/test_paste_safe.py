"""Every command kvmdeck suggests is safe to paste: a guest named ``$(touch pwned)`` or ``-c``
reaches the program as that one name, and nothing else runs.

Each suggested command is run for real through ``sh -c`` (and ``bash -c`` for the ``$'…'``
form), with harmless stand-ins named virt-xml, virsh, virt-viewer and kvmdeck first on PATH:
they record the arguments they got. The display doctor's text comes from ``kvmdeck doctor
--guest`` against libvirt's test driver (a node XML whose guest has that name).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tui.adapters.launch import client_instructions
from tui.adapters.launch.errors import LaunchError
from tui.adapters.launch.viewers import Launcher
from tui.adapters.libvirt.connection import demo_xml_path
from tui.adapters.libvirt.graphics import DisplayError, DisplayTarget, target_from_xml
from tui.cli.doctor import run_guest
from tui.cli.main import build_parser
from tui.core.usb.doctor import add_xhci
from tui.util import option_words, shell_command, shell_quote

NAMES = ["$(touch pwned)", "-c", "a b;touch pwned2", "`touch pwned3`", "it's"]
PROGRAMS = ("virt-xml", "virsh", "virt-viewer", "kvmdeck")
STAND_IN = """#!{python}
import json, os, sys
with open(os.environ["ARGS_OUT"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""


@pytest.fixture()
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    for prog in PROGRAMS:
        p = d / prog
        p.write_text(STAND_IN.format(python=sys.executable))
        p.chmod(0o755)
    return d


def commands_in(text: str, name: str) -> list[str]:
    """The command lines in ``text`` that name ``name``: from a program's name to the end of
    the quoted name (what an operator would select and paste)."""
    quoted = (shell_quote(name) if not name.startswith("-") else "-- " + shell_quote(name),)
    quoted += (shell_quote(f"--guest={name}"), "--guest " + shell_quote(name))
    out = []
    starts = [m.start() for m in re.finditer(r"\b(virt-xml|virsh|virt-viewer|kvmdeck) ", text)]
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else len(text)
        rest = text[start:stop]  # up to the next program's name ("kvmdeck cannot …" is prose)
        ends = [rest.find(q) + len(q) for q in quoted if q in rest]
        if ends:
            out.append(rest[: min(ends)])
    return out


def run_pasted(command: str, bin_dir: Path, shell: str = "sh") -> list[list[str]]:
    work = bin_dir.parent / "work"
    work.mkdir(exist_ok=True)
    record = bin_dir.parent / "args.jsonl"
    record.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ARGS_OUT": str(record)}
    subprocess.run([shell, "-c", command], cwd=work, env=env, check=True, timeout=30)
    assert sorted(os.listdir(work)) == [], f"{command!r} created files"
    return [json.loads(line) for line in record.read_text().splitlines()]


def assert_names_one_guest(argv: list[str], name: str) -> None:
    prog, args = argv[0], argv[1:]
    if prog == "kvmdeck":
        parsed = build_parser().parse_args(args)
        assert parsed.guest == name, argv
        return
    assert args[-1] == name, argv
    if name.startswith("-"):
        assert args[-2] == "--", argv


def hostile_node(tmp_path: Path, name: str) -> str:
    from xml.sax.saxutils import escape

    text = demo_xml_path().read_text()
    text = text.replace("<name>web-frontend</name>", f"<name>{escape(name)}</name>")
    path = tmp_path / "node.xml"
    path.write_text(text)
    return f"test://{path}"


@pytest.mark.parametrize("name", NAMES)
def test_display_doctor_cli_commands_are_safe_to_paste(
    name: str, tmp_path: Path, bin_dir: Path
) -> None:
    out = io.StringIO()
    code = run_guest(hostile_node(tmp_path, name), name, False, readonly=True, out=out, env={})
    text = out.getvalue()
    assert code in (0, 1), text
    commands = commands_in(text, name)
    assert {c.split()[0] for c in commands} >= {"virt-xml", "kvmdeck"}, text
    for command in commands:
        for argv in run_pasted(command, bin_dir):
            assert_names_one_guest(argv, name)


@pytest.mark.parametrize("name", NAMES)
def test_usb_doctor_console_dialog_and_messages_are_safe_to_paste(name: str, bin_dir: Path) -> None:
    texts = [add_xhci(name)]
    target = DisplayTarget(
        guest=name, hostname="hv1", type="spice", host="127.0.0.1", port=5901, password="pw"
    )
    ins = client_instructions(target, "qemu:///system", {"USER": "ops"})
    texts += [*ins.commands, *ins.notes]
    xml = demo_xml_path().read_text()
    no_display = xml[xml.index("<domain") : xml.index("</domain>") + 9]
    no_display = re.sub(r"<graphics.*?</graphics>", "", no_display)
    with pytest.raises(DisplayError) as err:
        target_from_xml(no_display, "hv1", guest=name)
    texts.append(str(err.value))
    # A remote URI without ssh: the viewer cannot be tunnelled, the message says what to run.
    fake = bin_dir.parent / "fake-viewer"
    fake.mkdir(exist_ok=True)
    (fake / "remote-viewer").write_text("#!/bin/sh\nexit 0\n")
    (fake / "remote-viewer").chmod(0o755)
    launcher = Launcher(env={"PATH": str(fake), "DISPLAY": ":99"}, directory=fake)
    with pytest.raises(LaunchError) as refused:
        launcher.prepare(target, "qemu+tls://hv2/system?x=1&y=2")
    texts.append(str(refused.value))
    found = [c for t in texts for c in commands_in(t, name)]
    assert {c.split()[0] for c in found} == {"virt-xml", "virsh", "virt-viewer"}, texts
    for command in found:
        for argv in run_pasted(command, bin_dir):
            assert_names_one_guest(argv, name)


def test_names_with_terminal_controls_are_quoted_visibly_and_still_exact(bin_dir: Path) -> None:
    """ESC and RLO in a name: the command shows ``\\x1b``/``\\u202e`` (nothing raw reaches the
    terminal) and bash still passes the exact name."""
    name = "x\x1b]0;T\x1b\\\u202e'y"
    command = shell_command("virsh", "edit", name=name)
    assert command == "virsh edit $'x\\x1b]0;T\\x1b\\\\\\u202e\\'y'"
    (argv,) = run_pasted(command, bin_dir, shell="bash")
    assert argv == ["virsh", "edit", name]


def test_option_words_keep_a_dash_name_a_value() -> None:
    assert option_words("--guest", "web") == ["--guest", "web"]
    assert option_words("--guest", "-c") == ["--guest=-c"]
    assert build_parser().parse_args(["doctor", *option_words("--guest", "-c")]).guest == "-c"
