"""The host panel: this machine's CPUs, memory, swap, load, uptime, disk and network, packed
into as few lines as the terminal allows. It never wraps: every line is cut to the panel's
width, and the layout is recomputed when the width or the screen's height changes.

**Items** (meters and figures) are packed left to right into rows, each at least its minimum
width; what a row has left goes to the items that can use it (a meter's bar, the disk
sparkline, more network interfaces). Minimum widths depend on the sample's *shape* (CPU count,
memory total, interface names), not on its moving figures, so the line count stays put from
one tick to the next and a new sample costs a repaint, not a layout pass.

**CPUs**, the first of these whose lines fit the budget (else the one with the fewest lines):

1. *inline*: up to 4 per-CPU meters among the items (a laptop, a small VM);
2. *meters*: per-CPU meters in aligned columns, consecutive CPUs down each column (htop's
   2/4/8-column layouts), above the items;
3. *heat*: an aggregate ``CPU[…]`` meter among the items, and one character per CPU whose
   block height and colour give its load (btop-like): 128 CPUs fit one line at 160 columns;
4. *dense*: two CPUs per character (upper and lower half block, colour only): 256 CPUs fit
   2 lines at 80 columns.

**Budget**: the header (hosts bar + this panel) gets ``max(6, screen height // 4)`` lines; the
panel gets that minus the hosts bar's lines and its own border. At 80x24 with one host that is
3 lines (2 + 3 + 1 = 6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from tui.model.host import HostSample
from tui.model.rates import History as HostHistory
from tui.ui.widgets.host_cpus import (
    agg_item,
    dense_rows,
    heat_inline_item,
    heat_rows,
    heat_shape,
    meter_columns,
    meter_rows,
)
from tui.ui.widgets.host_items import (
    INLINE_MAX,
    MODES,
    Item,
    cpu_meter_item,
    draw_row,
    history_item,
    info_items,
    pack_best,
    panel_budget,
)
from tui.ui.widgets.hosts_bar import bar_host_lines

if TYPE_CHECKING:
    from tui.model.fleet import Change, Fleet


# -- the layout ------------------------------------------------------------------------------
def layout(
    s: HostSample,
    history: HostHistory | None,
    width: int,
    budget: int,
    label: str = "",
) -> tuple[str, list[Text]]:
    """The panel's lines at ``width`` within ``budget`` lines when possible: (mode, lines)."""
    width = max(1, width)
    per_cpu = list(s.per_cpu) or [s.cpu_total]
    n = len(per_cpu)
    info = info_items(s, history, label)
    label_w = len(str(n - 1))
    extra = history_item(history)

    def flow(items: list[Item]) -> tuple[list[list[Item]], int]:
        rows, gap = pack_best(items, width)
        if extra is not None:
            more_rows, more_gap = pack_best([*items, extra], width)
            if len(more_rows) == len(rows):
                return more_rows, more_gap
        return rows, gap

    # Each plan: (mode, line count, how to draw it). Only the chosen one is drawn.
    plans: list[tuple[str, int, Callable[[], list[Text]]]] = []

    def add(mode: str, items: list[Item], below: int, draw_below: Callable[[], list[Text]]) -> None:
        rows, gap = flow(items)

        def draw() -> list[Text]:
            return [draw_row(r, width, gap) for r in rows] + draw_below()

        plans.append((mode, len(rows) + below, draw))

    if n <= INLINE_MAX:
        cpus = [
            agg_item(s) if n == 1 else cpu_meter_item(i, p, label_w) for i, p in enumerate(per_cpu)
        ]
        add("inline", [*cpus, *info], 0, list)
    if n > 1:
        _cols, rows = meter_columns(n, width, label_w)
        add("meters", [agg_item(s), *info], rows, lambda: meter_rows(per_cpu, width))
    if n > INLINE_MAX:
        strip = heat_inline_item(per_cpu)
        if strip.min <= width:
            add("heat", [agg_item(s), strip, *info], 0, list)
        add(
            "heat",
            [agg_item(s), *info],
            heat_shape(n, width, 1)[2],
            lambda: heat_rows(per_cpu, width),
        )
        add(
            "dense",
            [agg_item(s), *info],
            heat_shape(n, width, 2)[2],
            lambda: dense_rows(per_cpu, width),
        )
    order = {name: i for i, name in enumerate(MODES)}
    fits = [p for p in plans if p[1] <= budget]
    if fits:  # the most readable mode that fits, in its fewest lines
        mode, _count, draw = min(fits, key=lambda p: (order[p[0]], p[1]))
    else:  # nothing fits: the fewest lines
        mode, _count, draw = min(plans, key=lambda p: (p[1], order[p[0]]))
    return mode, draw()


# -- the widget ------------------------------------------------------------------------------
class HostPanel(Widget):
    """Renders the fleet's local :class:`HostSample` (``render_fleet``); hidden until there is
    one (a session of remote hosts only shows their figures in the hosts bar)."""

    DEFAULT_CSS = """
    HostPanel { height: auto; padding: 0 1; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.sample: HostSample | None = None
        self.history: HostHistory | None = None
        self.label = ""
        self.hosts = 1
        self.mode = ""
        self._screen_h = 24
        self.tight = False  # the rule under the panel is given up (see _set_tight)
        # (sample, (width, budget, label), lines): redrawn only when one of them changes
        self._cache: tuple[HostSample, tuple[int, int, str], list[Text]] | None = None
        self.display = False

    # -- input ---------------------------------------------------------------------------
    def render_fleet(self, fleet: Fleet, change: Change) -> None:
        """The main screen's call: redraw when the local sample or the hosts changed."""
        if not (change.local or change.link):
            return
        hosts = list(fleet.hosts.values())
        remote_only = bool(hosts) and all(h.remote is not None for h in hosts)
        label = ""
        if remote_only and fleet.local is not None:
            label = f"here: {fleet.local.hostname}"
        self.show(fleet.local, fleet.local_history, hosts=bar_host_lines(len(hosts)), label=label)

    def show(
        self,
        sample: HostSample | None,
        history: HostHistory | None,
        *,
        hosts: int | None = None,
        label: str | None = None,
    ) -> None:
        """Take a sample; repaint, with a layout pass only when the line count changes."""
        hosts = self.hosts if hosts is None else hosts
        label = self.label if label is None else label
        if sample is self.sample and (hosts, label) == (self.hosts, self.label):
            return  # nothing of ours changed (a link change): no repaint at all
        self.hosts, self.label = hosts, label
        if sample is None:
            self.sample = None
            self.display = False
            return
        width = self.size.width
        before = len(self._lines(width)) if (self.sample is not None and width) else -1
        self.sample, self.history = sample, history
        if not self.display:
            self.display = True
            return  # showing it lays it out
        after = len(self._lines(width)) if width else -2
        self.refresh(layout=after != before)

    # -- output --------------------------------------------------------------------------
    def budget(self) -> int:
        return panel_budget(self._screen_h, self.hosts)

    def _lines(self, width: int) -> list[Text]:
        s = self.sample
        if s is None or width <= 0:
            return []
        key = (width, self.budget(), self.label)
        cache = self._cache
        if cache is not None and cache[0] is s and cache[1] == key:
            return cache[2]
        self.mode, lines = layout(s, self.history, width, key[1], self.label)
        self._cache = (s, key, lines)
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._screen_h = viewport.height or self._screen_h
        return max(1, len(self._lines(width)))

    def render(self) -> Text:
        lines = self._lines(self.size.width)
        tight = len(lines) > self.budget()
        if tight != self.tight:  # not during the paint: after it
            self.call_later(self._set_tight, tight)
        out = Text("\n").join(lines)
        out.no_wrap = True
        out.overflow = "crop"
        return out

    def _set_tight(self, tight: bool) -> None:
        """Over budget by the rule's line (256 CPUs at 80x24): drop the rule under the panel
        (the guest table's header row still marks the edge); back within it: the stylesheet's
        rule again."""
        if tight == self.tight:
            return
        self.tight = tight
        if tight:
            self.styles.border_bottom = ("none", "black")
        else:
            self.styles.clear_rule("border_bottom")
