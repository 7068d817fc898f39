"""The USB screen's rules: every rule of rules.toml as a selectable row, plugged in or not.

Rendered from the coordinator's snapshot (:attr:`tui.core.usb.view.UsbView.rules`); the screen's
``D`` forgets the selected rule. Rule and state strings are plain text, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable

from tui.core.usb.requests import RuleStatus
from tui.ui.widgets.usb_table import CELL_PADDING, Column
from tui.util import terminal_safe

RULE_COLUMNS: tuple[Column, ...] = (
    ("n", "#", 3),
    ("rule", "Rule", 36),
    ("state", "State", 30),
)
RULE_MIN, STATE_MIN = 16, 24


def rule_columns(width: int, longest: int = RULE_COLUMNS[1][2]) -> tuple[Column, ...]:
    """The rules table's columns for ``width`` cells: Rule as wide as its longest text
    (``longest``) while State keeps :data:`STATE_MIN`, State what is left."""
    avail = width - 2 - sum(w + CELL_PADDING for _k, _l, w in RULE_COLUMNS[:1]) - 2 * CELL_PADDING
    rule = max(RULE_MIN, min(longest, avail - STATE_MIN))
    state = max(STATE_MIN, avail - rule)
    return (RULE_COLUMNS[0], ("rule", "Rule", rule), ("state", "State", state))


def rule_cells(status: RuleStatus) -> tuple[str, str]:
    """(the rule, its state and why) as plain text."""
    state = f"{status.state} — {status.message}" if status.message else status.state
    return status.rule.describe(), state


class UsbRulesTable(DataTable[Text]):
    """Every rule of rules.toml, one selectable row each, in file order (the first match takes
    a device), whether or not its device is plugged in: ``D`` forgets the selected one."""

    DEFAULT_CSS = """
    UsbRulesTable { height: auto; max-height: 6; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id, cursor_type="row", zebra_stripes=True)
        self.rules: tuple[RuleStatus, ...] = ()
        self._drawn: list[tuple[str, str]] = []
        self._ready = False
        self.layout_shown: tuple[Column, ...] = RULE_COLUMNS

    def on_mount(self) -> None:
        self._ready = True
        self._draw()

    def _layout(self, width: int, wanted: list[tuple[str, str]]) -> bool:
        """Columns for ``width`` and these rows; True when they changed (then rebuilt)."""
        longest = max((len(rule) for rule, _s in wanted), default=RULE_COLUMNS[1][2])
        layout = rule_columns(width, longest) if width else RULE_COLUMNS
        if layout == self.layout_shown and self.columns:
            return False
        self.layout_shown = layout
        self.clear(columns=True)
        for key, label, w in layout:
            self.add_column(label, width=w, key=key)
        return True

    def on_resize(self, event: Resize) -> None:
        if self._ready and self._layout(event.size.width, self._drawn):
            drawn, self._drawn = self._drawn, []
            self._fill(drawn)

    def show(self, rules: tuple[RuleStatus, ...]) -> None:
        self.rules = rules
        self._draw()

    @property
    def selected_rule(self) -> RuleStatus | None:
        if not self._ready or not self.rules or not self.row_count:
            return None
        row = self.cursor_row
        return self.rules[row] if 0 <= row < len(self.rules) else None

    def _draw(self) -> None:
        if not self._ready:
            return
        wanted = [rule_cells(s) for s in self.rules]
        if wanted == self._drawn:
            return
        with self.app.batch_update():
            self._layout(self.size.width, wanted)
            self._fill(wanted)

    def _fill(self, wanted: list[tuple[str, str]]) -> None:
        row = self.cursor_row
        self.clear()
        for i, (rule, state) in enumerate(wanted, 1):
            cells = (str(i), rule, state)
            texts = [Text(terminal_safe(c), no_wrap=True, overflow="ellipsis") for c in cells]
            self.add_row(*texts)  # a rule names guests and devices: plain text
        if wanted:
            self.move_cursor(row=min(row, len(wanted) - 1), animate=False)
        self._drawn = wanted


__all__ = ["RULE_COLUMNS", "UsbRulesTable", "rule_cells", "rule_columns"]
