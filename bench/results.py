"""One row per figure, the printed table, and the JSON report."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

JSON_PATH = Path("/tmp/kvmdeck-bench.json")
MARKDOWN_PATH = Path("/tmp/kvmdeck-bench.md")

PASS, MISS, PENDING, INFO = "PASS", "MISS", "PENDING", "-"


@dataclass
class Row:
    id: str
    what: str
    figure: str
    peer: str = "-"
    ratio: str = "-"
    target: str = "-"
    verdict: str = INFO
    note: str = ""


@dataclass
class Section:
    """What one P-id produced: table rows, the command lines it ran, and raw details."""

    id: str
    rows: list[Row] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    error: str | None = None


def verdict(ok: bool) -> str:
    return PASS if ok else MISS


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the same rule as bench/usb_latency.py)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def quiet(windows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The windows without lifecycle events from other clients, when there are 2 or more."""
    calm = [w for w in windows if not w.get("events")]
    if len(calm) >= 2 or len(calm) == len(windows):
        return calm, f"{len(calm)}/{len(windows)} windows quiet"
    return windows, f"only {len(calm)}/{len(windows)} windows quiet: all used (noisy host)"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def environment() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "kernel": platform.release(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


COLUMNS = (
    ("id", 3),
    ("what", 34),
    ("figure", 22),
    ("peer", 30),
    ("ratio", 16),
    ("target", 26),
    ("verdict", 7),
)


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(sections: list[Section]) -> str:
    lines = ["  ".join(name.ljust(w) for name, w in COLUMNS).rstrip()]
    lines.append("  ".join("-" * w for _, w in COLUMNS))
    notes: list[str] = []
    for sec in sections:
        if sec.error:
            lines.append(f"{sec.id:<3}  ERROR: {sec.error}")
        for row in sec.rows:
            values = asdict(row)
            lines.append(
                "  ".join(_cell(str(values[name]), w).ljust(w) for name, w in COLUMNS).rstrip()
            )
            if row.note:
                notes.append(f"{row.id} {row.what}: {row.note}")
    if notes:
        lines.append("")
        lines += [f"  * {n}" for n in notes]
    return "\n".join(lines)


def write_json(
    sections: list[Section], env: dict[str, Any], wall_s: float, path: Path = JSON_PATH
) -> Path:
    doc = {
        **env,
        "wall_s": round(wall_s, 1),
        "sections": [asdict(s) for s in sections],
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<=", "≤")


def markdown(sections: list[Section], env: dict[str, Any]) -> str:
    """README's performance table, from this run: its date and machine, one row per figure."""
    head = (
        f"Run of {env['date']}, kernel {env['kernel']}, {env['cpu']} x{env['cores']}, "
        f"Python {env['python']}:"
    )
    lines = [head, "", "| id | what | kvmdeck | peer (same run) | ratio | target | |"]
    lines.append("|---|---|---|---|---|---|---|")
    for sec in sections:
        if sec.error:
            lines.append(f"| {sec.id} | error | {_md(sec.error)} | | | | MISS |")
        for r in sec.rows:
            cells = (r.id, r.what, r.figure, r.peer, r.ratio, r.target, r.verdict.lower())
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    notes = [f"- {r.id} {r.what}: {_md(r.note)}" for s in sections for r in s.rows if r.note]
    return "\n".join([*lines, "", *notes]) + "\n"


def write_markdown(sections: list[Section], env: dict[str, Any]) -> Path:
    MARKDOWN_PATH.write_text(markdown(sections, env))
    return MARKDOWN_PATH
