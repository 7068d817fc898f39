"""The UI reaches the app and the hosts through declared types only (issue 20): no ``Any`` and
no ``getattr``/``hasattr`` probe in ``tui/ui`` outside ``compat.py`` (Textual's private API).
A screen that needs something of the app asks the Deck (tui/ui/deck.py); a host's abilities
are its typed HostCapabilities."""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parent.parent / "tui" / "ui"


def _offences(path: Path, base: Path = UI) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "Any":
            out.append(f"{path.relative_to(base)}:{node.lineno}: Any")
        elif isinstance(node, ast.alias) and node.name == "Any":
            out.append(f"{path.relative_to(base)}: imports Any")
        elif isinstance(node, ast.Attribute) and node.attr == "Any":
            out.append(f"{path.relative_to(base)}:{node.lineno}: typing.Any")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
        ):
            out.append(f"{path.relative_to(base)}:{node.lineno}: {node.func.id}")
    return out


def test_no_any_and_no_attribute_probe_in_the_ui() -> None:
    found = [o for p in sorted(UI.rglob("*.py")) if p.name != "compat.py" for o in _offences(p)]
    assert found == []


def test_the_check_sees_what_it_forbids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import Any\nx: Any = getattr(object(), 'a', None)\nhasattr(x, 'b')\n"
    )
    assert len(_offences(bad, tmp_path)) == 4  # the import, the annotation, getattr, hasattr
