"""The host panel packs: no line wider than the panel at any width, the header within its
budget, per-CPU cells for big hosts, the interfaces that matter."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult

from tests.support import fixed
from tui.model.fleet import Change, Fleet
from tui.model.host import NetRate
from tui.model.ids import HostId
from tui.model.rates import History
from tui.ui.widgets.host_items import net_item, panel_budget
from tui.ui.widgets.host_panel import HostPanel, layout


def history() -> History:
    h = History()
    for i in range(60):
        h.cpu.append(float((i * 13) % 70))
        h.disk.append(float((i * 7) % 11) * 100_000)
    return h


@pytest.mark.parametrize("cpus", [1, 2, 4, 8, 16, 64, 128, 256])
def test_no_line_wider_than_the_panel_at_any_width(cpus: int) -> None:
    sample = fixed.host_sample_cpus(cpus)
    for columns in range(80, 251):
        for height in (24, 40, 70):
            width = columns - 2  # the panel's padding
            _mode, lines = layout(sample, history(), width, panel_budget(height, 1))
            assert lines
            too_wide = [ln.plain for ln in lines if ln.cell_len > width]
            assert not too_wide, (cpus, columns, height, too_wide)


@pytest.mark.parametrize(("cpus", "mode"), [(2, "inline"), (64, "heat"), (256, "dense")])
def test_header_fits_six_lines_at_80x24(cpus: int, mode: str) -> None:
    """Hosts bar (2 lines) + panel + its rule <= 6: 3 lines of panel, or 4 without the rule."""
    budget = panel_budget(24, 1)
    assert budget == 3
    shown, lines = layout(fixed.host_sample_cpus(cpus), history(), 78, budget)
    assert shown == mode
    if cpus <= 64:
        assert len(lines) <= budget
    else:  # the rule under the panel gives way: still 6 lines in all
        assert len(lines) <= budget + 1
    assert 2 + len(lines) + (1 if len(lines) <= budget else 0) <= 6


def test_cpu_cells_show_every_cpu_once() -> None:
    per_cpu = fixed.per_cpu_load(64)
    _mode, lines = layout(fixed.host_sample_cpus(64), None, 78, 3)  # no history: no sparklines
    cells = "".join(ch for ln in lines for ch in ln.plain if ch in "·▁▂▃▄▅▆▇█")
    assert len(cells) == 64
    assert cells[3] == "█" and per_cpu[3] >= 90  # a pegged CPU is a full block
    assert cells[0] == "·" and per_cpu[0] < 2  # an idle one a dot


def test_meters_in_columns_when_there_is_room() -> None:
    mode, lines = layout(fixed.host_sample_cpus(16), history(), 158, panel_budget(48, 1))
    assert mode == "meters"
    assert sum(line.plain.count("[") for line in lines) >= 16 + 3  # 16 CPUs, CPU, Mem, Swp


def _net(nets: tuple[NetRate, ...], width: int) -> str:
    return net_item(nets).draw(width).plain


def test_network_lists_what_matters_and_counts_the_rest() -> None:
    nets = fixed.host_sample_cpus(2).nets
    wide = _net(nets, 200)
    assert "ifb0" not in wide  # never listed, never counted
    assert wide.index("eno1") < wide.index("virbr0") < wide.index("vnet0") < wide.index("veth")
    narrow = _net(nets, 40)
    assert narrow.startswith("Net eno1") and narrow.endswith("+4 more")
    two = nets[:1] + nets[3:4]  # eno1, virbr0
    assert "virbr0" in _net(two, 48) and "more" not in _net(two, 48)
    assert _net(two, 45).endswith("eno1 ↓ 12M/s ↑3.0M/s +1 more interface")  # singular
    assert _net(two, 33).endswith("+1 more")
    assert _net(two, 20).startswith("Net eno1")  # below its minimum: cut, not emptied


def test_loopback_is_listed_only_when_the_sampler_kept_it() -> None:
    with_lo = (NetRate("lo", 10.0, 10.0, "loopback"), NetRate("eth0", 1.0, 1.0))
    text = _net(with_lo, 200)
    assert text.index("eth0") < text.index("lo ")  # listed (show_loopback), after the NIC


class _PanelApp(App[None]):
    def __init__(self, fleet: Fleet) -> None:
        super().__init__()
        self.fleet = fleet

    def compose(self) -> ComposeResult:
        yield HostPanel(id="host-panel")


async def test_panel_relayouts_on_resize_and_hides_without_a_sample() -> None:
    fleet = Fleet()
    fleet.add_host(HostId("qemu+ssh://far/system"), "far")
    app = _PanelApp(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(HostPanel)
        panel.render_fleet(fleet, Change(link=True))
        await pilot.pause()
        assert panel.display is False  # no local sample: no panel, no placeholder line
        fleet.apply_host_sample(fixed.host_sample_cpus(64))
        panel.render_fleet(fleet, Change(local=True))
        await pilot.pause()
        assert panel.display is True and panel.mode == "heat"
        narrow = panel.size.height
        assert narrow <= 3
        await pilot.resize_terminal(250, 70)
        await pilot.pause()
        assert panel.mode == "meters"  # room for 64 meters in columns
        assert all(ln.cell_len <= panel.size.width for ln in panel._lines(panel.size.width))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert panel.size.height == narrow


async def test_a_new_sample_of_the_same_shape_costs_no_layout() -> None:
    fleet = Fleet()
    app = _PanelApp(fleet)
    calls: list[Any] = []
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(HostPanel)
        fleet.apply_host_sample(fixed.host_sample_cpus(16))
        panel.render_fleet(fleet, Change(local=True))
        await pilot.pause()
        original = panel.refresh

        def spy(*a: Any, **kw: Any) -> Any:
            calls.append(kw.get("layout", False))
            return original(*a, **kw)

        panel.refresh = spy  # type: ignore[method-assign]
        import dataclasses

        moved = dataclasses.replace(fixed.host_sample_cpus(16), cpu_total=12.0)
        fleet.apply_host_sample(moved)
        panel.render_fleet(fleet, Change(local=True))
        panel.render_fleet(fleet, Change())  # nothing local changed: nothing to do
        await pilot.pause()
        assert calls == [False]


async def test_remote_only_session_says_whose_figures_these_are() -> None:
    from tui.model.host import RemoteHostSample

    fleet = Fleet()
    host = HostId("qemu+ssh://far/system")
    fleet.add_host(host, "far")
    fleet.hosts[host].remote = RemoteHostSample(8, 2400, 10.0, 1 << 24, 1 << 23, 0.0)
    fleet.apply_host_sample(fixed.host_sample_cpus(2))
    app = _PanelApp(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(HostPanel)
        panel.render_fleet(fleet, Change(local=True))
        await pilot.pause()
        text = "\n".join(ln.plain for ln in panel._lines(panel.size.width))
        assert "here: demo-host" in text
