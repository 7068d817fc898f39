"""The app against a real libvirtd with transient TCG guests and one persistent guest."""

from __future__ import annotations

import threading

import libvirt
import pytest

from tests.support import bed
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


async def wait_until(pilot, pred, deadline_s: float = 30.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    steps = int(deadline_s / 0.1)
    for _ in range(steps):
        value = pred()
        if value:
            return value
        await pilot.pause(0.1)
    app = pilot.app
    events = "\n".join(str(x) for x in app.main_screen.query_one("#events").lines)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}; event log:\n{events}")


async def test_real_guests_show_cpu_and_disk(guests: list[bed.Guest]) -> None:
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=0.5))
    async with app.run_test(size=(170, 45)) as pilot:
        for g in guests:
            await wait_until(pilot, lambda g=g: sample_by_name(app, g.name), what=f"row {g.name}")
            assert sample_by_name(app, g.name).state == "running"
        g0 = guests[0].name
        await wait_until(
            pilot,
            lambda: (sample_by_name(app, g0).cpu_pct or 0) > 0,
            what="non-zero CPU%",
        )
        # Disk bytes appear once SeaBIOS has tried the disk; the session keeps the counters.
        s = sample_by_name(app, g0)
        assert s.vcpus == 1 and s.mem_max_kib == 96 * 1024
        assert s.rss_kib and s.rss_kib > 0
        sess = session(app)
        await wait_until(
            pilot,
            lambda: (sess.rates._prev[s.uuid].rd_bytes or 0) > 0,
            deadline_s=60,
            what="disk read bytes",
        )
        header = str(app.query_one("#hosts").content)
        assert "qemu:///system" in header and "up" in header


async def test_lifecycle_from_ui_arrives_by_event(persistent_guest: bed.Guest) -> None:
    """Refresh is 60 s, so a row that changes within 15 s changed because of the event."""
    app = make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", refresh=60.0))
    name = persistent_guest.name
    async with app.run_test(size=(170, 45)) as pilot:
        await wait_until(pilot, lambda: sample_by_name(app, name), what="persistent guest row")
        assert sample_by_name(app, name).state == "shut off"
        polls_before = session(app).calls
        key = next(k for k, s in app.table.samples.items() if s.name == name)
        app.select_guest(key)
        for key_press, expected in (("s", "running"), ("p", "paused"), ("p", "running")):
            await pilot.press(key_press)
            await wait_until(
                pilot,
                lambda e=expected: sample_by_name(app, name).state == e,
                deadline_s=15,
                what=f"{name} {expected}",
            )
        await pilot.press("X")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(
            pilot, lambda: sample_by_name(app, name).state == "shut off", 15, "shut off"
        )
        # The events triggered polls; the 60 s timer did not.
        assert session(app).calls > polls_before

        def logged() -> str:
            return "\n".join(str(x) for x in app.query_one("#events").lines)

        for word in ("started", "suspended", "resumed", "stopped"):
            await wait_until(pilot, lambda w=word: f"{name}: {w}" in logged(), 15, f"'{word}'")


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
