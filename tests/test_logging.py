"""``--log FILE``: a debug log with secrets redacted."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from tui.logsetup import redact, setup_logging


def test_redact_patterns() -> None:
    xml = "<graphics type='spice' port='5900' passwd='s3cr3t!' listen='127.0.0.1'/>"
    assert "s3cr3t" not in redact(xml) and "passwd='***'" in redact(xml)
    assert "hunter2" not in redact("password=hunter2 host=x")
    assert "hunter2" not in redact('{"password": "hunter2"}')
    assert redact("nothing secret here") == "nothing secret here"


def test_log_file_has_debug_lines_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "k.log"
    setup_logging(path)
    try:
        log = logging.getLogger("tui.test")
        log.debug("graphics %s", "<graphics passwd='topsecret'/>")
        log.info("vv file password=topsecret written")
    finally:
        setup_logging(None)
    text = path.read_text()
    assert "graphics" in text and "vv file" in text
    assert "topsecret" not in text


def test_cli_log_option_writes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cli.log"
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui",
            "--demo",
            "--log",
            str(path),
            "stats",
            "--count",
            "1",
            "--interval",
            "0.1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "web-frontend" in r.stdout
    assert "up" in path.read_text()  # the link's state changes are logged
