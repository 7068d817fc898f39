"""The composition root: the adapters plugged into the core's ports, for the TUI.

Only ``tui.cli`` imports both the adapters and the UI, so the UI and the core stay free of
libvirt, psutil and pyudev. Heavy modules (the launcher, the doctor, USB) are imported inside
the factories, when first used, not at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui.core.ports import BackendError, HostBackend, HostEvents, HostSampler, Services

if TYPE_CHECKING:
    from tui.model.vt import VtReport
    from tui.ui.app import AppOptions, KvmDeckApp


def _host_backend(uri: str | None, readonly: bool, events: HostEvents) -> HostBackend:
    import psutil

    from tui.adapters.libvirt.host import LibvirtHost

    return LibvirtHost(uri, readonly, events, host_cpus=psutil.cpu_count() or 1)


def _host_sampler(show_loopback: bool) -> HostSampler:
    from tui.adapters.local.hoststats import HostSampler as PsutilSampler

    return PsutilSampler(show_loopback)


def _host_cpus() -> int:
    import psutil

    return psutil.cpu_count() or 1


def _vt_probe(uri: str | None) -> VtReport:
    from tui.core.doctor import build_report

    return build_report(uri)


def _register_event_loop() -> None:
    from tui.adapters.libvirt.connection import register_event_loop

    register_event_loop()


def _launcher(**kw: Any) -> Any:
    from tui.adapters.launch import Launcher

    return Launcher(**kw)


def _open_console(conn: Any, name: str, uri: str | None, readonly: bool, launcher: Any) -> Any:
    """Open a guest's console; the adapters' clear errors become BackendError for the UI."""
    from tui.adapters.launch import DisplayError, LaunchError, open_console

    try:
        return open_console(conn, name, uri, readonly, launcher)
    except (DisplayError, LaunchError) as exc:
        raise BackendError(str(exc)) from exc


def make_services() -> Services:
    from tui.adapters.libvirt.connection import display_uri, is_remote, is_test_driver
    from tui.cli.wiring_usb import usb_services

    return Services(
        host_backend=_host_backend,
        host_sampler=_host_sampler,
        host_cpus=_host_cpus,
        vt_probe=_vt_probe,
        register_event_loop=_register_event_loop,
        is_test_uri=is_test_driver,
        is_remote_uri=is_remote,
        display_uri=display_uri,
        launcher=_launcher,
        open_console=_open_console,
        usb=usb_services(),
    )


def make_app(options: AppOptions | None = None) -> KvmDeckApp:
    from tui.ui.app import KvmDeckApp

    return KvmDeckApp(options, make_services())
