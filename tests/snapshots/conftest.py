"""Snapshots of screens with a focused text box: the cursor shown, never blinking.

Textual's ``Input`` hides and shows its cursor every 0.5 s once focused. A snapshot taken more
than 0.5 s after the focus (a loaded machine: the slow tests run beside the suite) caught it
hidden and failed (``test_storage_new_volume_dialog``, once in a full run). The blink is a
timer, not kvmdeck's behaviour: here it stays on, as the frame right after the focus shows it.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    def toggle(self: Input) -> None:  # Textual 8.2.8: the blink timer's callback
        self._cursor_visible = self.has_focus

    monkeypatch.setattr(Input, "_toggle_cursor", toggle)
