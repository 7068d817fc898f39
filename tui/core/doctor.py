"""``kvmdeck doctor``: the virtualization report as text or JSON, and its exit code.

Exit codes: 0 KVM usable, 1 not usable, 2 invalid URI or internal error.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TextIO

from tui.adapters.libvirt.capabilities import open_kvm_view
from tui.adapters.libvirt.connection import is_remote
from tui.adapters.local.vt import VtReport, probe_host, remote_report, with_libvirt
from tui.model.vt import Status

log = logging.getLogger(__name__)

MARK = {Status.OK: " ok ", Status.WARN: "warn", Status.FAIL: "FAIL", Status.UNKNOWN: " ?? "}


def build_report(uri: str | None, root: Path = Path("/")) -> VtReport:
    """The whole report (blocking: libvirt and file reads; call from a thread worker)."""
    view = open_kvm_view(uri)
    if is_remote(uri):
        return remote_report(view)
    return with_libvirt(probe_host(root), view)


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def format_text(report: VtReport) -> str:
    lines = [
        f"{report.badge}",
        f"Verdict: {report.verdict} ({report.basis_text})",
        f"Host is a guest: {_yes(report.host_is_guest)}   "
        f"Nested supported: {_yes(report.nested_supported)}",
        "",
    ]
    width = max((len(c.title) for c in report.checks), default=0)
    for c in report.checks:
        lines.append(f"[{MARK[c.status]}] {c.title:<{width}}  {c.detail}")
        if c.fix and c.status is not Status.OK:
            lines.append(f"       {'':<{width}}  fix: {c.fix}")
    if report.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def format_json(report: VtReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def run(uri: str | None, as_json: bool, out: TextIO = sys.stdout, root: Path = Path("/")) -> int:
    """Print the report for ``uri`` (local checks under ``root``); 0 usable, 1 not, 2 an
    invalid URI (nothing printed on stdout) or an internal error."""
    try:
        report = build_report(uri, root)
        failure = report.libvirt.failure if report.libvirt else None
        if failure is not None and not failure.retry:  # an invalid URI: a usage error
            print(f"kvmdeck doctor: {failure.text()}", file=sys.stderr)
            return 2
        out.write(format_json(report) if as_json else format_text(report))
        out.flush()
    except Exception as exc:  # the report must never crash the CLI with a traceback
        log.exception("doctor failed")
        print(f"kvmdeck doctor: internal error: {exc!r}", file=sys.stderr)
        return 2
    return 0 if report.usable else 1
