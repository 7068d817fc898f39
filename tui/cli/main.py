"""Command line: the TUI (default), ``doctor``, ``stats``, ``rules``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tui import __version__
from tui.config import ConfigError, Settings, config_path, load_settings
from tui.util import terminal_safe

if TYPE_CHECKING:
    import asyncio

EPILOG = """\
Connection choice (like virsh): --connect, then $LIBVIRT_DEFAULT_URI, then the config file
({config}), then libvirt's default. Repeat --connect to watch several hosts.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kvmdeck",
        description="A terminal console for KVM hosts: live host and guest stats, USB hot-plug, SPICE.",
        epilog=EPILOG.format(config=config_path()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"kvmdeck {__version__}")
    p.add_argument(
        "-c", "--connect", action="append", metavar="URI", help="libvirt URI (repeatable)"
    )
    p.add_argument("--readonly", action="store_true", help="read-only connection; no actions")
    p.add_argument(
        "--demo", action="store_true", help="libvirt's test driver with shipped guests; no daemon"
    )
    p.add_argument("--refresh", type=float, metavar="S", help="refresh interval in seconds")
    p.add_argument("--config", type=Path, metavar="FILE", help="config file to read")
    p.add_argument("--log", type=Path, metavar="FILE", help="write a debug log (secrets redacted)")
    sub = p.add_subparsers(dest="command")
    d = sub.add_parser("doctor", help="check virtualization support (exit 0 usable, 1 not)")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("-c", "--connect", dest="sub_connect", metavar="URI")
    d.add_argument(
        "--guest",
        metavar="NAME",
        help="the display doctor of one guest: SPICE, agent, USB redirection, sound"
        " (exit 0 ready, 1 not, 2 error)",
    )
    s = sub.add_parser(
        "stats", help="print host and guest samples without the TUI (like virt-top -b)"
    )
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per sample")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    s.add_argument("--count", type=int, default=1, metavar="N", help="samples to print (default 1)")
    s.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="seconds between samples"
    )
    s.add_argument("-c", "--connect", dest="sub_connect", action="append", metavar="URI")
    r = sub.add_parser("rules", help="USB auto-attach rules")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--run", action="store_true", help="apply rules headless until interrupted")
    mode.add_argument(
        "--once",
        action="store_true",
        help="apply rules to the devices plugged in now, then exit (exit 1: a rule failed)",
    )
    mode.add_argument("--list", action="store_true", help="print the rules")
    r.add_argument("-c", "--connect", dest="sub_connect", metavar="URI")
    return p


def _uris(args: argparse.Namespace, settings: Settings) -> list[str | None]:
    from tui.adapters.libvirt.connection import choose_uris, demo_uri

    if args.demo:
        return [demo_uri()]
    cli = list(args.connect or [])
    sub = getattr(args, "sub_connect", None)
    if sub:
        cli += sub if isinstance(sub, list) else [sub]
    return choose_uris(cli, dict(os.environ), settings.uri, [h.uri for h in settings.hosts])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"kvmdeck: {terminal_safe(exc, multiline=True)}", file=sys.stderr)
        return 2
    if args.refresh is not None and not 0.25 <= args.refresh <= 3600:
        print("kvmdeck: --refresh must be between 0.25 and 3600 seconds.", file=sys.stderr)
        return 2
    from tui.logsetup import LogFileError, setup_logging

    try:
        setup_logging(args.log)
    except LogFileError as exc:
        print(f"kvmdeck: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    uris = _uris(args, settings)
    if args.command == "doctor":
        if args.guest is not None:
            from tui.cli.doctor import run_guest

            return run_guest(uris[0], args.guest, args.json, args.readonly or settings.readonly)
        from tui.cli.doctor import run as run_doctor

        return run_doctor(uris[0], args.json)
    if args.command == "stats":
        from tui.cli.stats import run_stats

        return run_stats(uris, settings, args.json, args.csv, args.count, args.interval)
    if args.command == "rules":
        from tui.cli.wiring_usb import run_rules_command

        if not (args.run or args.once or args.list):
            parser.error("rules: say --run, --once or --list")
        readonly = args.readonly or settings.readonly
        return run_rules_command(uris[0], once=not args.run, list_only=args.list, readonly=readonly)
    # Start-up (bench P5): the hosts connect and answer their first poll in threads while
    # Textual is imported; the app then runs on the loop libvirt's events are bound to.
    import asyncio

    from tui.cli.startup import start_prefetch

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    prefetched = start_prefetch(uris, args.readonly or settings.readonly, args.demo, loop)
    _sweep_in_background()
    from tui.cli.wiring import make_app
    from tui.ui.app import AppOptions

    app = make_app(
        AppOptions(
            uris=uris,
            readonly=args.readonly,
            demo=args.demo,
            settings=settings,
            refresh=args.refresh,
            prefetched=prefetched,
        )
    )
    _freeze_gc(loop)
    result = app.run(loop=loop)
    # A signal exits through app.exit(return_code=128+signum) (tui/ui/signals.py, installed
    # by the app on mount); finish() cleans up what is left and stands the watchdog down.
    from tui.ui import signals

    signals.finish()
    return app.return_code or int(result or 0)


def _freeze_gc(loop: asyncio.AbstractEventLoop, settle_s: float = 5.0) -> None:
    """Keep what lives for the whole session out of the garbage collector's passes: the
    modules now, the screen and the first guests once they are up. A full pass over them cost
    60-90 ms (bench P6: a key that met one waited that long); frozen, a pass walks only what
    came since."""
    import gc

    gc.freeze()
    loop.call_later(settle_s, gc.freeze)


def _sweep_in_background() -> None:
    """Remove private dirs and short ssh socket dirs left by a kvmdeck killed with ``kill -9``
    (off the UI thread)."""
    import logging
    import threading

    def sweep() -> None:
        from tui.adapters.launch.privdir import sweep_stale
        from tui.adapters.launch.sockdir import sweep_socket_dirs

        log = logging.getLogger(__name__)
        try:
            result = sweep_stale(os.environ)
            sockets = sweep_socket_dirs()
        except Exception:  # never stop kvmdeck for this
            log.exception("sweeping stale private dirs failed")
            return
        log.info(
            "swept %d stale private dir(s) in %.1f ms (%d live kept): %s",
            len(result.removed),
            result.seconds * 1000,
            len(result.kept),
            [str(p) for p in result.removed],
        )
        log.info(
            "swept %d stale ssh socket dir(s) in %.1f ms (%d live kept): %s",
            len(sockets.removed),
            sockets.seconds * 1000,
            len(sockets.kept),
            [str(p) for p in sockets.removed],
        )

    threading.Thread(target=sweep, name="kvmdeck-sweep", daemon=True).start()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
