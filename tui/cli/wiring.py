"""The composition root: the adapters plugged into the core's ports, for the TUI.

Only ``tui.cli`` imports both the adapters and the UI, so the UI and the core stay free of
libvirt, psutil and pyudev. Heavy modules (the launcher, the doctor, USB) are imported inside
the factories, when first used, not at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tui.core.ports import HostBackend, HostEvents, HostSampler, Services, ViewerLauncher

if TYPE_CHECKING:
    from tui.model.viewers import ViewerInfo
    from tui.model.vt import VtReport
    from tui.ui.app import AppOptions, KvmDeckApp


def _host_backend(uri: str | None, readonly: bool, events: HostEvents) -> HostBackend:
    import psutil

    from tui.adapters.libvirt.host import LibvirtHost

    return LibvirtHost(uri, readonly, events, host_cpus=psutil.cpu_count() or 1)


def _host_sampler(show_loopback: bool) -> HostSampler:
    from tui.adapters.local.hoststats import HostSampler as PsutilSampler

    return PsutilSampler(show_loopback)


# -- demo mode (--demo): the test driver made to look alive (tui/adapters/demo) ---------------
DEMO_CPUS_ENV = "KVMDECK_DEMO_CPUS"  # demo only: pretend this machine has N CPUs (1..1024)


def _demo_host_backend(uri: str | None, readonly: bool, events: HostEvents) -> HostBackend:
    """A test-driver host with simulated figures; any other URI is a real host."""
    from tui.adapters.libvirt.connection import is_test_driver

    if not is_test_driver(uri):
        return _host_backend(uri, readonly, events)
    from tui.adapters.demo.host import DemoHost

    return DemoHost(uri, readonly, events, host_cpus=_demo_cpus() or _host_cpus())


def _demo_cpus() -> int | None:
    import os

    text = os.environ.get(DEMO_CPUS_ENV, "")
    return int(text) if text.isdigit() and 1 <= int(text) <= 1024 else None


def _demo_host_sampler(show_loopback: bool) -> HostSampler:
    cpus = _demo_cpus()
    if cpus is None:
        return _host_sampler(show_loopback)
    from tui.adapters.demo.host import DemoHostSampler

    return DemoHostSampler(_host_sampler(show_loopback), cpus)


def _host_cpus() -> int:
    import psutil

    return psutil.cpu_count() or 1


def _vt_probe(uri: str | None) -> VtReport:
    from tui.cli.doctor import build_report

    return build_report(uri)


def _register_event_loop() -> None:
    from tui.adapters.libvirt.connection import register_event_loop

    register_event_loop()


def _launcher(*, on_change: Callable[[ViewerInfo], None], keep_viewers: bool) -> ViewerLauncher:
    from tui.adapters.launch import Launcher

    return Launcher(on_change=on_change, keep_viewers=keep_viewers)


def make_services(demo: bool = False) -> Services:
    """The adapters for the TUI; ``demo`` (``--demo``) simulates figures and USB for test-driver
    hosts (never for a real one)."""
    from tui.adapters.libvirt.connection import display_uri, is_remote, is_test_driver
    from tui.cli.wiring_usb import usb_services

    return Services(
        host_backend=_demo_host_backend if demo else _host_backend,
        host_sampler=_demo_host_sampler if demo else _host_sampler,
        host_cpus=_host_cpus,
        vt_probe=_vt_probe,
        register_event_loop=_register_event_loop,
        is_test_uri=is_test_driver,
        is_remote_uri=is_remote,
        display_uri=display_uri,
        launcher=_launcher,
        usb=usb_services(),
    )


def make_app(options: AppOptions | None = None) -> KvmDeckApp:
    from tui.ui.app import KvmDeckApp

    return KvmDeckApp(options, make_services(demo=bool(options and options.demo)))
