"""``python -m bench.restart [--before]``: kvmdeck across a ``kill -9`` of libvirtd.

kvmdeck (in-process, Textual's test driver) watches ``qemu:///system`` with one transient guest.
libvirtd is killed (SIGKILL) and started again 2 s later with ``scripts/start-libvirtd.sh``. It
prints: when libvirtd answered again, when kvmdeck was connected again (from that moment), and
how long until a ``virsh suspend`` made right after the restart showed in kvmdeck's row.
``--before`` measures the old retry rule (BACKOFF for every host) for comparison.

It restarts the machine's libvirtd: run it only where that is allowed (never in make bench).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import libvirt

from testbed import bed
from tui.adapters.libvirt.connection import silence_libvirt_errors
from tui.cli.wiring import make_app
from tui.core import controller as ctl_mod
from tui.model.link import LinkState
from tui.ui.app import AppOptions

ROOT = Path(__file__).resolve().parents[1]


def _libvirtd_pid() -> int:
    out = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True).stdout
    return int(out.split()[0])


def _answers() -> bool:
    try:
        libvirt.open("qemu:///system").close()
        return True
    except libvirt.libvirtError:
        return False


async def measure(before: bool) -> dict[str, float | None]:
    silence_libvirt_errors()
    if before:  # the old rule: every host on BACKOFF
        ctl_mod.HostController.retry_delay = lambda self: ctl_mod.BACKOFF[  # type: ignore[method-assign]
            min(self.attempt, len(ctl_mod.BACKOFF) - 1)
        ]
    conn, _ = bed.ensure_libvirtd()
    guest = bed.create_transient(conn, 0, tag="rst")
    conn.close()
    out: dict[str, float | None] = {}
    app = make_app(AppOptions(uris=["qemu:///system"], vt_badge="KVM: bench", refresh=1.0))
    try:
        async with app.run_test(size=(170, 45)) as pilot:
            ctl = None
            for _ in range(600):
                ctl = next(iter(app.controllers.values()), None)
                if ctl is not None and ctl.is_up and _row(app, guest.name) == "running":
                    break
                await pilot.pause(0.05)
            assert ctl is not None and ctl.is_up, "not connected"
            gen = ctl.generation
            os.kill(_libvirtd_pid(), signal.SIGKILL)
            t_kill = time.monotonic()
            await asyncio.sleep(2.0)
            starter = await asyncio.create_subprocess_exec(
                str(ROOT / "scripts/start-libvirtd.sh"),
                sys.executable,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
            t_ready = None
            while t_ready is None and time.monotonic() - t_kill < 60:
                if await asyncio.to_thread(_answers):
                    t_ready = time.monotonic()
                else:
                    await asyncio.sleep(0.02)
            await starter.wait()
            assert t_ready is not None, "libvirtd did not come back"
            c2 = libvirt.open("qemu:///system")
            c2.lookupByUUIDString(guest.uuid).suspend()
            t_susp = time.monotonic()
            t_up = t_paused = None
            while time.monotonic() - t_susp < 30 and (t_up is None or t_paused is None):
                if t_up is None and ctl.state is LinkState.UP and ctl.generation > gen:
                    t_up = time.monotonic()
                if t_paused is None and _row(app, guest.name) == "paused":
                    t_paused = time.monotonic()
                await pilot.pause(0.02)
            c2.lookupByUUIDString(guest.uuid).resume()
            c2.close()
            out["libvirtd_answers_after_kill_s"] = round(t_ready - t_kill, 2)
            out["reconnected_after_answering_s"] = (
                None if t_up is None else round(t_up - t_ready, 2)
            )
            out["paused_shown_after_suspend_s"] = (
                None if t_paused is None else round(t_paused - t_susp, 2)
            )
    finally:
        conn, _ = bed.ensure_libvirtd()
        bed.remove(conn, guest)
        conn.close()
    return out


def _row(app: object, name: str) -> str | None:
    for s in app.table.samples.values():  # type: ignore[attr-defined]
        if s.name == name:
            return str(s.state)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", action="store_true", help="the old rule: BACKOFF for every host")
    args = ap.parse_args(argv)
    got = asyncio.run(measure(args.before))
    print(
        ("before" if args.before else "after")
        + ": "
        + ", ".join(f"{k} {v}" for k, v in got.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
