"""What counts as a "first frame with data" for each program, read from ``tmux capture-pane``."""

from __future__ import annotations

import re
from collections.abc import Callable

GLANCES_DATA = re.compile(r"TASKS\s+\d+")


def shows_any(names: list[str]) -> Callable[[str], bool]:
    """kvmdeck's guest table has drawn at least one of these guest names."""
    return lambda text: any(n in text for n in names)


def shows_all(names: list[str]) -> Callable[[str], bool]:
    return lambda text: all(n in text for n in names)


def glances_ready(text: str) -> bool:
    """glances has drawn its process summary (it shows nothing before its first sample)."""
    return bool(GLANCES_DATA.search(text)) and "CPU%" in text
