"""``kvmdeck doctor``: the virtualization report as text or JSON, and its exit code.

Exit codes: 0 KVM usable, 1 not usable, 2 invalid URI or internal error.
``kvmdeck doctor --guest NAME``: the display doctor of one guest (:func:`run_guest`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from tui.adapters.libvirt.capabilities import open_kvm_view
from tui.adapters.libvirt.connection import is_remote
from tui.adapters.local.vt import read_facts
from tui.adapters.local.vtdevkvm import KvmProbe, probe_kvm
from tui.adapters.local.vtfirmware import MsrReader, read_msr
from tui.core.vt import judge, remote_report, with_libvirt
from tui.model.vt import Status, VtReport
from tui.model.vtfacts import Identity
from tui.util import terminal_safe

log = logging.getLogger(__name__)

MARK = {Status.OK: " ok ", Status.WARN: "warn", Status.FAIL: "FAIL", Status.UNKNOWN: " ?? "}


def _err(text: str) -> None:
    """A message on stderr: names and libvirt's errors in it are terminal-safe."""
    print(terminal_safe(text, multiline=True), file=sys.stderr)


def probe_host(
    root: Path = Path("/"),
    *,
    identity: Identity | None = None,
    kvm_probe: KvmProbe = probe_kvm,
    msr_reader: MsrReader = read_msr,
) -> VtReport:
    """This machine's virtualization report without libvirt: the readers of
    :mod:`tui.adapters.local` under ``root``, judged by :func:`tui.core.vt.judge` (blocks)."""
    return judge(read_facts(root, identity=identity, kvm_probe=kvm_probe, msr_reader=msr_reader))


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
            _err(f"kvmdeck doctor: {failure.text()}")
            return 2
        text = format_json(report) if as_json else format_text(report)
        out.write(terminal_safe(text, multiline=True))  # JSON escapes controls itself
        out.flush()
    except Exception as exc:  # the report must never crash the CLI with a traceback
        log.exception("doctor failed")
        _err(f"kvmdeck doctor: internal error: {exc!r}")
        return 2
    return 0 if report.usable else 1


# -- kvmdeck doctor --guest NAME: the display doctor for one guest -------------------------------
def run_guest(
    uri: str | None,
    name: str,
    as_json: bool,
    readonly: bool = False,
    out: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Print the display doctor's findings for guest ``name``. Exit codes: 0 SPICE-ready (every
    finding ok or info), 1 some finding is warn or fail, 2 an invalid URI, no connection, no
    such guest, or an internal error: the message on stderr, and with ``as_json`` a JSON object
    ``{"guest": NAME, "error": MESSAGE, "exit": 2}`` on stdout (so a script reading stdout
    always gets JSON)."""
    import os

    from tui.adapters.libvirt.connection import ConnectFailed, open_connection
    from tui.adapters.libvirt.graphics import DisplayError, read_guest_display
    from tui.core.display import Level, display_findings, format_json, format_text, verdict
    from tui.util import display_available

    out = sys.stdout if out is None else out  # read at call time (tests capture stdout)

    def failed(message: str) -> int:
        _err(f"kvmdeck doctor: {message}")
        if as_json:
            out.write(json.dumps({"guest": name, "error": message, "exit": 2}) + "\n")
            out.flush()
        return 2

    try:
        try:
            conn = open_connection(uri, readonly)
        except ConnectFailed as exc:
            return failed(exc.failure.text())
        try:
            got = read_guest_display(conn, name, readonly)
        except DisplayError as exc:
            return failed(str(exc))
        finally:
            conn.close()
        remote = is_remote(uri)
        client_local = not remote and display_available(os.environ if env is None else env)
        findings = display_findings(got.info, remote, client_local, got.saved)
        state = "running (live XML)" if got.active else "shut off (saved config)"
        if as_json:
            out.write(
                format_json(
                    name,
                    findings,
                    running=got.active,
                    persistent=got.persistent,
                    remote=remote,
                    client_local=client_local,
                )
            )
        else:
            text = format_text(name, findings, f"Guest is {state}.")
            out.write(terminal_safe(text, multiline=True))
        out.flush()
    except Exception as exc:  # never a traceback on the CLI
        log.exception("display doctor failed")
        return failed(f"internal error: {exc!r}")
    return 0 if verdict(findings) is Level.OK else 1
