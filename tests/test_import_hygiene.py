"""What importing a layer drags in, checked in a fresh interpreter (start-up depends on it)."""

from __future__ import annotations

import json
import subprocess
import sys

BELOW_UI = [
    "tui.model.fleet",
    "tui.model.ids",
    "tui.core.controller",
    "tui.core.scheduler",
    "tui.core.runner",
    "tui.core.ports",
    "tui.cli.doctor",
    "tui.core.usb.coordinator",
    "tui.core.usb.headless",
    "tui.adapters.libvirt.host",
    "tui.adapters.libvirt.session",
    "tui.adapters.local.hoststats",
    "tui.adapters.local.udev",
    "tui.adapters.launch",
    "tui.cli.stats",
    "tui.config",
    "tui.registry",
]


def loaded_after(imports: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {imports!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_model_core_and_adapters_load_no_textual() -> None:
    mods = loaded_after(BELOW_UI)
    assert not {m for m in mods if m == "textual" or m.startswith("textual.")}
    assert "rich" not in mods


def test_the_model_loads_no_outside_world() -> None:
    mods = loaded_after(["tui.model.fleet", "tui.model.backend", "tui.model.link"])
    assert not {"libvirt", "psutil", "pyudev", "textual"} & mods


def test_the_app_loads_launcher_doctor_and_usb_only_when_used() -> None:
    mods = loaded_after(["tui.ui.app", "tui.cli.wiring", "tui.cli.main"])
    late = {
        m
        for m in mods
        if m.startswith(
            (
                "tui.adapters.launch",
                "tui.cli.doctor",
                "tui.adapters.local.vt",
                "tui.core.usb",
                "tui.adapters.local.udev",
                "tui.adapters.libvirt.hostdev",
                "tui.adapters.libvirt.nodedev",
                "tui.ui.usb_feature",
                "tui.ui.screens.usb",
                "tui.ui.screens.doctor",
                "tui.ui.screens.console",
                "pyudev",
            )
        )
    }
    assert late == set()
    # and the UI itself never needs libvirt or psutil to be imported
    ui_only = loaded_after(["tui.ui.app"])
    assert not {"libvirt", "psutil", "pyudev"} & ui_only


def test_no_module_is_over_450_lines() -> None:
    """Big modules hide several jobs; split them (the core redesign's rule)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "tui"
    big = {
        str(p.relative_to(root)): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert big == {}
