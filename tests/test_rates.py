"""Rates: resets, missing keys and huge values never give negative or absurd figures."""

from __future__ import annotations

import libvirt
from hypothesis import given
from hypothesis import strategies as st

from tui.adapters.libvirt.stats import GuestRates, RawGuest, parse_record
from tui.model.rates import MAX_PLAUSIBLE_PER_S, cpu_percent, rate

counters = st.one_of(st.none(), st.integers(min_value=0, max_value=2**64 - 1))
dts = st.floats(min_value=-5, max_value=3600, allow_nan=False)


@given(counters, counters, dts)
def test_rate_is_none_or_sane(prev: int | None, cur: int | None, dt: float) -> None:
    r = rate(prev, cur, dt)
    if prev is None or cur is None or dt <= 0 or cur < prev:
        assert r is None
    else:
        assert r is None or 0 <= r <= MAX_PLAUSIBLE_PER_S


@given(st.integers(0, 2**63), st.integers(0, 2**63), st.floats(0.01, 100), st.integers(1, 512))
def test_cpu_percent_is_clamped(prev: int, cur: int, dt: float, cpus: int) -> None:
    pct = cpu_percent(prev, cur, dt, cpus)
    if cur < prev:
        assert pct is None  # guest reboot resets cpu.time: no negative spike
    else:
        assert pct is None or 0.0 <= pct <= 100.0


def test_cpu_percent_value() -> None:
    # 0.5 s of CPU over 1 s on a 1-vCPU guest is 50%; on 2 host CPUs it is 25% of the host.
    assert cpu_percent(0, 500_000_000, 1.0, 1) == 50.0
    assert cpu_percent(0, 500_000_000, 1.0, 2) == 25.0


def raw(t: float, cpu: int | None, rd: int | None, state: int = 1, uuid: str = "u1") -> RawGuest:
    return RawGuest("g", uuid, state, 1, t, cpu_time=cpu, rd_bytes=rd, rx_bytes=rd)


@given(st.lists(st.tuples(counters, counters, st.sampled_from([1, 3, 5])), min_size=1, max_size=30))
def test_guest_rates_survive_any_sequence(seq: list[tuple[int | None, int | None, int]]) -> None:
    gr = GuestRates(host_cpus=2)
    for i, (cpu, rd, state) in enumerate(seq):
        (s,) = gr.update([raw(float(i + 1), cpu, rd, state)], vcpus={"u1": 1})
        for v in (s.cpu_pct, s.cpu_host_pct):
            assert v is None or 0 <= v <= 100
        for v in (s.rd_bps, s.rx_bps):
            assert v is None or 0 <= v <= MAX_PLAUSIBLE_PER_S
        if state != libvirt.VIR_DOMAIN_RUNNING:
            assert s.cpu_pct is None and s.rd_bps is None


def test_reboot_reset_gives_no_rate_then_recovers() -> None:
    gr = GuestRates(host_cpus=1)
    gr.update([raw(1.0, 10_000_000_000, 1000)], vcpus={"u1": 1})
    (s,) = gr.update([raw(2.0, 100_000_000, 10)], vcpus={"u1": 1})  # counters reset
    assert s.cpu_pct is None and s.rd_bps is None
    (s,) = gr.update([raw(3.0, 600_000_000, 2058)], vcpus={"u1": 1})
    assert s.cpu_pct == 50.0 and s.rd_bps == 2048.0


def test_first_sample_has_no_rates_and_missing_is_none() -> None:
    gr = GuestRates()
    (s,) = gr.update([raw(1.0, None, None)])
    assert s.cpu_pct is None and s.rd_bps is None and s.mem_cur_kib is None


def test_a_vanished_guest_is_forgotten() -> None:
    """Its counters go (a guest that comes back starts without a rate), and in the store its
    row and history go with it."""
    gr = GuestRates()
    gr.update([raw(1.0, 1, 1, uuid="a"), raw(1.0, 1, 1, uuid="b")])
    gr.update([raw(2.0, 2_000_000_000, 2, uuid="a")])
    a, b = gr.update([raw(3.0, 3_000_000_000, 3, uuid="a"), raw(3.0, 9, 9, uuid="b")])
    assert a.cpu_pct is not None and b.cpu_pct is None

    from tui.model.fleet import Fleet
    from tui.model.host import PollResult
    from tui.model.ids import GuestKey, HostId

    fleet, host = Fleet(), HostId("h")
    fleet.add_host(host, "h")
    fleet.apply_poll(host, 1, PollResult("h", [a, b], 0.0, 0))
    change = fleet.apply_poll(host, 2, PollResult("h", [a], 0.0, 0))
    assert change.removed == {GuestKey(host, b.uuid)}
    assert fleet.guest(GuestKey(host, b.uuid)) is None
    g = fleet.guest(GuestKey(host, a.uuid))
    assert g is not None and len(g.history.cpu) == 2


def test_parse_record_sums_devices_and_tolerates_missing_keys() -> None:
    stats = {
        "state.state": 1,
        "block.count": 2,
        "block.0.rd.bytes": 512,
        "block.1.rd.bytes": 1024,
        "block.1.wr.bytes": 7,
        "net.count": 1,
    }
    r = parse_record("g", "u", stats, 1.0)
    assert r.rd_bytes == 1536 and r.wr_bytes == 7
    assert r.rx_bytes is None  # net.count=1 but no counters: unknown, not 0
    assert r.cpu_time is None


def test_uptime_column_says_not_known_for_a_shut_off_guest() -> None:
    from tui.adapters.libvirt.stats import GuestSample
    from tui.ui.widgets.guest_columns import COLUMN_BY_KEY

    col = COLUMN_BY_KEY["uptime"]
    off = GuestSample("g", "u", "shut off", 5, 3)
    on = GuestSample("g", "u", "running", 1, 1, uptime_s=3725.0)
    assert col.render(off, None, "") == "—"  # not known: no uptime, not a reason (issue 22)
    assert col.render(on, None, "") == "01:02:05"
