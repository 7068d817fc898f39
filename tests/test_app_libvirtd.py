"""The app against a real libvirtd with transient TCG guests and one persistent guest."""

from __future__ import annotations

import threading

import libvirt
import pytest

from testbed import bed
from tests.support.apps import app_until
from tui.adapters.libvirt.connection import HostLink
from tui.adapters.libvirt.session import HostSession
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions, KvmDeckApp

pytestmark = pytest.mark.libvirtd


def session(app: KvmDeckApp) -> HostSession:
    """The first host's libvirt session (its XML cache, counters and call count)."""
    backend = next(iter(app.controllers.values())).backend
    assert backend is not None, "not connected"
    return backend.session  # type: ignore[attr-defined, no-any-return]


def sample_by_name(app: KvmDeckApp, name: str):  # type: ignore[no-untyped-def]
    for s in app.table.samples.values():
        if s.name == name:
            return s
    return None


async def test_real_guests_show_cpu_and_disk(guests: list[bed.Guest]) -> None:
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=0.5))
    async with app.run_test(size=(170, 45)) as pilot:
        for g in guests:
            await app_until(
                pilot, lambda g=g: sample_by_name(app, g.name), f"row {g.name}", 30.0, step=0.1
            )
            assert sample_by_name(app, g.name).state == "running"
        g0 = guests[0].name
        await app_until(
            pilot,
            lambda: (sample_by_name(app, g0).cpu_pct or 0) > 0,
            "non-zero CPU%",
            30.0,
            step=0.1,
        )
        # Disk bytes appear once SeaBIOS has tried the disk; the session keeps the counters.
        s = sample_by_name(app, g0)
        assert s.vcpus == 1 and s.mem_max_kib == 96 * 1024
        assert s.rss_kib and s.rss_kib > 0
        sess = session(app)
        await app_until(
            pilot,
            lambda: (sess.rates._prev[s.uuid].rd_bytes or 0) > 0,
            "disk read bytes",
            60,
            step=0.1,
        )
        header = str(app.query_one("#hosts").content)
        assert "qemu:///system" in header and "up" in header


async def test_lifecycle_from_ui_arrives_by_event(persistent_guest: bed.Guest) -> None:
    """Refresh is 60 s, so a row that changes within 15 s changed because of the event."""
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=60.0))
    name = persistent_guest.name
    async with app.run_test(size=(170, 45)) as pilot:
        await app_until(
            pilot, lambda: sample_by_name(app, name), "persistent guest row", 30.0, step=0.1
        )
        assert sample_by_name(app, name).state == "shut off"
        polls_before = session(app).calls
        key = next(k for k, s in app.table.samples.items() if s.name == name)
        app.select_guest(key)
        for key_press, expected in (("s", "running"), ("p", "paused"), ("p", "running")):
            await pilot.press(key_press)
            await app_until(
                pilot,
                lambda e=expected: sample_by_name(app, name).state == e,
                f"{name} {expected}",
                15,
                step=0.1,
            )
        await pilot.press("X")
        await pilot.pause()
        await pilot.press("y")
        await app_until(
            pilot, lambda: sample_by_name(app, name).state == "shut off", "shut off", 15, step=0.1
        )
        # The events triggered polls; the 60 s timer did not.
        assert session(app).calls > polls_before

        def logged() -> str:
            return "\n".join(str(x) for x in app.query_one("#events").lines)

        for word in ("started", "paused", "resumed", "shut off (forced off)"):  # issue 22 words
            await app_until(
                pilot, lambda w=word: f"{name}: {w}" in logged(), f"'{word}'", 15, step=0.1
            )


def test_guest_vanishing_between_list_and_stats_does_not_crash(
    libvirtd: libvirt.virConnect,
) -> None:
    link = HostLink(bed.SYSTEM_URI)
    link.connect()
    session = HostSession(link, host_cpus=2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        i = 0
        while not stop.is_set():
            g = bed.define_persistent(libvirtd, index=i, tag="churn")
            session.mark_stale()
            bed.remove(libvirtd, g)
            i += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(60):
            try:
                session.poll(("cpu", "mem", "disk", "net"))
            except BaseException as exc:
                errors.append(exc)
    finally:
        stop.set()
        t.join()
        link.close()
    assert errors == []


def test_one_bulk_call_per_tick_with_only_visible_groups(guests: list[bed.Guest]) -> None:
    link = HostLink(bed.SYSTEM_URI)
    link.connect()
    try:
        session = HostSession(link, host_cpus=2)
        r1 = session.poll(("cpu",))
        assert r1.groups == libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
        calls = session.calls
        session.poll(("cpu",))
        assert session.calls == calls + 1
        names = {s.name for s in r1.samples}
        assert {g.name for g in guests} <= names
    finally:
        link.close()
