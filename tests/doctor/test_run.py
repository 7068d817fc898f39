"""tui.cli.doctor.run: text and JSON output, exit codes 0/1/2, libvirt failures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import tui.cli.doctor
from tui.cli.doctor import run


def test_no_kvm_exits_1_with_json(trees: dict[str, Path]) -> None:
    out = io.StringIO()
    code = run("test:///default", True, out, root=trees["no_kvm"])
    data = json.loads(out.getvalue())
    assert code == 1
    assert (data["usable"], data["mode"]) == (False, "none")
    assert data["badge"] == "KVM: unavailable — emulation only"
    libvirt = next(c for c in data["checks"] if c["key"] == "libvirt")
    assert libvirt["status"] == "unknown" and "TEST driver" in libvirt["detail"]


def test_unreachable_libvirt_leaves_the_local_verdict(
    trees: dict[str, Path], tmp_path: Path
) -> None:
    out = io.StringIO()
    uri = f"qemu+unix:///system?socket={tmp_path}/none.sock"
    code = run(uri, False, out, root=trees["pvm"])
    text = out.getvalue()
    assert code == 0
    assert text.startswith("KVM: PVM\nVerdict: usable, PVM")
    line = next(x for x in text.splitlines() if "libvirt offers domain type kvm" in x)
    assert line.startswith("[ ?? ]") and "none.sock" in line
    assert "PVM-enabled guest kernel" in text


def test_remote_unreachable_exits_1(trees: dict[str, Path]) -> None:
    out = io.StringIO()
    code = run(
        "qemu+ssh://nobody@127.0.0.1:1/system?no_verify=1", True, out, root=trees["intel_nested"]
    )
    data = json.loads(out.getvalue())
    assert code == 1 and data["remote"] is True
    assert data["badge"] == "KVM: unknown — libvirt unreachable"
    assert [c["key"] for c in data["checks"]] == ["libvirt"]  # local checks do not apply


def test_internal_error_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(_uri: str | None, _root: Path) -> None:
        raise RuntimeError("kaputt")

    monkeypatch.setattr(tui.cli.doctor, "build_report", boom)
    out = io.StringIO()
    assert run(None, True, out) == 2
    assert out.getvalue() == ""
    assert "internal error" in capsys.readouterr().err
