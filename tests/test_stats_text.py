"""``kvmdeck stats`` text rows (issue 22, item 7): sorted by host label and name, and a host
named as the operator reaches it, not by its whole URI."""

from __future__ import annotations

import subprocess
import sys

from tui.cli.stats import host_labels, short_label
from tui.config import HostEntry, Settings


def test_text_rows_are_sorted_by_host_and_name() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tui", "--demo", "stats", "--count", "1", "--interval", "0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("host_label"))
    rows = [line.split() for line in lines[head + 1 :] if line.strip()]
    names = [row[1] for row in rows]
    assert len(names) == 6 and names == sorted(names), names  # the demo polls web-frontend first


def test_host_label_is_the_uri_host_or_the_configured_name() -> None:
    remote = "qemu+ssh://root@kvm1.example.org/system?keyfile=/k&no_tty=1"
    assert short_label(remote) == "kvm1.example.org"
    assert short_label("qemu+ssh://root@127.0.0.1:2222/system") == "127.0.0.1:2222"
    assert short_label("qemu:///system") == "qemu:///system"
    assert short_label(None) == "libvirt default"
    settings = Settings(hosts=(HostEntry(uri=remote, name="lab"),))
    assert host_labels([remote, "qemu+tcp://10.0.0.7/system"], settings) == ["lab", "10.0.0.7"]
