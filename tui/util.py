"""Small helpers shared by every layer (no textual here)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

DASH = "—"


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one.

    The data goes to a temp file in the same directory, is fsynced, then renamed over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fmt_bytes(value: float | None, suffix: str = "") -> str:
    """Human-readable binary size: 1536 -> '1.5K'. None -> '—'."""
    if value is None:
        return DASH
    units = ["B", "K", "M", "G", "T", "P"]
    v = float(value)
    for unit in units:
        if abs(v) < 1024 or unit == units[-1]:
            if unit == "B":
                return f"{int(v)}{unit}{suffix}"
            return f"{v:.1f}{unit}{suffix}"
        v /= 1024
    return f"{v:.1f}P{suffix}"  # pragma: no cover


def fmt_rate(value: float | None) -> str:
    """Bytes per second, human readable; None -> '—'."""
    return fmt_bytes(value, "/s")


def fmt_pct(value: float | None) -> str:
    return DASH if value is None else f"{value:5.1f}%"


def fmt_duration(seconds: float | None) -> str:
    """Seconds -> '3d 04:05' / '04:05:06'; None -> '—'."""
    if seconds is None:
        return DASH
    s = int(max(0, seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    return f"{hours:02d}:{minutes:02d}:{s:02d}"
