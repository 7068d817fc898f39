"""The composition root: the adapters plugged into the core's ports, for the TUI.

Only ``tui.cli`` imports both the adapters and the UI, so the UI and the core stay free of
libvirt, psutil and pyudev. Heavy modules (the launcher, the doctor, USB) are imported inside
the factories, when first used, not at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui.core.ports import BackendError, HostBackend, HostEvents, HostSampler, Services

if TYPE_CHECKING:
    from tui.model.display import SpiceReadyPlan
    from tui.model.snapshots import SnapshotList
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
    from tui.core.doctor import build_report

    return build_report(uri)


def _register_event_loop() -> None:
    from tui.adapters.libvirt.connection import register_event_loop

    register_event_loop()


def _launcher(**kw: Any) -> Any:
    from tui.adapters.launch import Launcher

    return Launcher(**kw)


def _usb_redirect(name: str) -> list[tuple[int, int]]:
    """(vendor, product) of the devices the USB rules name for guest ``name``: the viewer
    redirects them from the operator's machine too (rules by port alone name no ids). A rules
    file that does not load: none."""
    import logging

    from tui.core.usb.rules import RulesError, load_rules

    try:
        rules = load_rules()
    except (RulesError, OSError) as exc:
        logging.getLogger(__name__).warning("USB redirect filter without rules: %s", exc)
        return []
    return list(
        dict.fromkeys(
            (r.vendor_id, r.product_id)
            for r in rules
            if r.guest == name and r.vendor_id is not None and r.product_id is not None
        )
    )


def _open_console(conn: Any, name: str, uri: str | None, readonly: bool, launcher: Any) -> Any:
    """Open a guest's console; the adapters' clear errors become BackendError for the UI."""
    from tui.adapters.launch import DisplayError, LaunchError, open_console

    try:
        return open_console(conn, name, uri, readonly, launcher, usb_redirect=_usb_redirect(name))
    except (DisplayError, LaunchError) as exc:
        raise BackendError(str(exc)) from exc


def _spice_ready_plan(conn: Any, name: str) -> SpiceReadyPlan:
    from tui.adapters.libvirt.spice_ready import SpiceReadyError, plan

    try:
        return plan(conn, name)
    except SpiceReadyError as exc:
        raise BackendError(str(exc)) from exc


def _spice_ready_apply(conn: Any, name: str, new_xml: str, base_xml: str | None) -> str:
    from tui.adapters.libvirt.spice_ready import SpiceReadyError, apply

    try:
        return apply(conn, name, new_xml, base_xml)
    except SpiceReadyError as exc:
        raise BackendError(str(exc)) from exc


def _serial_check(conn: Any, uuid: str) -> str:
    from tui.adapters.libvirt.serial import SerialError, check

    try:
        return check(conn, uuid)
    except SerialError as exc:
        raise BackendError(str(exc)) from exc


def _serial_command(uri: str | None, uuid: str) -> tuple[list[str], dict[str, str]]:
    from tui.adapters.libvirt.serial import SerialError, command

    try:
        return command(uri, uuid)
    except SerialError as exc:
        raise BackendError(str(exc)) from exc


class _Snapshots:
    """tui.core.ports.SnapshotOps over tui/adapters/libvirt/snapshots.py."""

    @staticmethod
    def _call(fn_name: str, *args: Any) -> Any:
        from tui.adapters.libvirt import snapshots

        try:
            return getattr(snapshots, fn_name)(*args)
        except snapshots.SnapshotError as exc:
            raise BackendError(str(exc)) from exc

    def list(self, conn: Any, uuid: str) -> SnapshotList:
        result: SnapshotList = self._call("list_snapshots", conn, uuid)
        return result

    def create(self, conn: Any, uuid: str, name: str, description: str, memory: bool) -> str:
        return str(self._call("create", conn, uuid, name, description, memory))

    def revert(self, conn: Any, uuid: str, name: str) -> str:
        return str(self._call("revert", conn, uuid, name))

    def delete(self, conn: Any, uuid: str, name: str) -> str:
        return str(self._call("delete", conn, uuid, name))


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
        open_console=_open_console,
        usb=usb_services(demo=demo),
        spice_ready_plan=_spice_ready_plan,
        spice_ready_apply=_spice_ready_apply,
        serial_check=_serial_check,
        serial_command=_serial_command,
        snapshots=_Snapshots(),
    )


def make_app(options: AppOptions | None = None) -> KvmDeckApp:
    from tui.ui.app import KvmDeckApp

    return KvmDeckApp(options, make_services(demo=bool(options and options.demo)))
