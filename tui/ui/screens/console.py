"""Screens for guest consoles: the client command dialog and the open-viewers list.

Nothing here talks to libvirt or starts programs: the screens read and drive a
:class:`tui.core.ports.ViewerLauncher`, and show :class:`tui.model.viewers.ClientInstructions`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from tui.ui.widgets.command_row import CommandRow
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

if TYPE_CHECKING:
    from tui.core.ports import ViewerLauncher
    from tui.model.viewers import ClientInstructions, ViewerInfo


def copy_message(env: Mapping[str, str]) -> str:
    """What ``c`` really did: the text went to the terminal as OSC 52. Whether it reached a
    clipboard depends on the terminal, and tmux's default (``set-clipboard external``) drops it."""
    if env.get("TMUX"):
        return "Sent to the terminal (OSC 52); tmux needs 'set -g set-clipboard on' to copy it."
    if env.get("STY"):
        return "Sent to the terminal (OSC 52). GNU screen may not pass it on to your terminal."
    return "Sent to the terminal (OSC 52): copied if your terminal allows OSC 52."


class ClientCommandDialog(ModalScreen[None]):
    """The commands to open a console from the operator's workstation (no display here)."""

    DEFAULT_CSS = """
    ClientCommandDialog { align: center middle; }
    ClientCommandDialog > VerticalScroll {
        width: 100%; max-width: 120; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    ClientCommandDialog .title { text-style: bold; margin-bottom: 1; width: 1fr; }
    ClientCommandDialog .heading { color: $text-muted; margin-top: 1; }
    ClientCommandDialog .hint { color: $text-muted; }
    ClientCommandDialog .note { color: $text-muted; margin-top: 1; }
    """

    BINDINGS = [
        Binding("c", "copy", "Copy commands", id="console.copy"),
        Binding("escape,q", "dismiss", "Close", id="console.dismiss"),
    ]

    def __init__(self, instructions: ClientInstructions, host: str = "") -> None:
        super().__init__()
        self.instructions = instructions
        self.host = host  # the host's label: with several hosts, titles name it

    def compose(self) -> ComposeResult:
        ins = self.instructions
        with VerticalScroll(id="client-commands"):
            title = Text("Open the console of ")
            title.append(terminal_safe(ins.guest))  # a guest name: plain text, never markup
            if self.host:
                title.append(f" on {terminal_safe(self.host)}")
            title.append(" from your workstation")
            yield Static(title, classes="title")
            yield Static(
                "Commands are never wrapped: Tab to one, ← → scroll it; c copies them all.",
                classes="hint",
            )
            for heading, lines in ins.options:
                yield Static(terminal_safe(heading), classes="heading", markup=False)
                for line in lines:  # one command a row, never wrapped: it scrolls sideways
                    yield CommandRow(line)  # shell-quoted (tui.util)
            for note in ins.notes:
                yield Static(terminal_safe(note, multiline=True), classes="note", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#client-commands", VerticalScroll).focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(terminal_safe(self.instructions.text, multiline=True))
        self.notify(copy_message(os.environ), timeout=6, markup=False)


def _cell(value: str) -> Text:
    """A table cell as plain text (guest names and viewer errors may hold "[")."""
    return Text(value, no_wrap=True, overflow="ellipsis")


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _started(info: ViewerInfo) -> str:
    return time.strftime("%H:%M:%S", time.localtime(info.started))


def _state(info: ViewerInfo) -> str:
    if info.state.value == "failed" and info.detail:  # ViewerState, compared by value
        return f"failed: {info.detail}"
    if info.state.value == "connected" and info.connect_s is not None:
        return f"connected ({info.connect_s:.1f} s)"
    return info.state.value


class ViewersScreen(ModalScreen[None]):
    """The viewers kvmdeck started: guest, PID, start time, state; close the selected one."""

    DEFAULT_CSS = """
    ViewersScreen { align: center middle; }
    ViewersScreen > Vertical {
        width: 100%; max-width: 110; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ViewersScreen .title { text-style: bold; margin: 1 0; }
    ViewersScreen #viewers-empty { color: $text-muted; margin-bottom: 1; }
    ViewersScreen DataTable { height: auto; max-height: 18; margin-bottom: 1; }
    """

    BINDINGS = [
        Binding("x,delete", "close_viewer", "Close viewer", id="viewers.close"),
        Binding("r", "refresh", "Refresh", id="viewers.refresh"),
        Binding("escape,q", "dismiss", "Back", id="viewers.dismiss"),
    ]

    REFRESH_S = 0.5
    COLUMNS = ("guest", "pid", "started", "state")

    def __init__(self, launcher: ViewerLauncher) -> None:
        super().__init__()
        self.launcher = launcher

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Console viewers", classes="title")
            yield Static(
                "No viewers open. Press v on a running guest to open its console.",
                id="viewers-empty",
            )
            yield DataTable(id="viewers-table", cursor_type="row", zebra_stripes=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Fixed widths (update_cell never widens a column) that fit an 80-column terminal;
        # longer guest names and states end in "…".
        table.add_column("Guest", width=24, key="guest")
        table.add_column("PID", width=8, key="pid")
        table.add_column("Started", width=8, key="started")
        table.add_column("State", width=24, key="state")
        self.action_refresh()
        self.set_interval(self.REFRESH_S, self.action_refresh)
        table.focus()

    def action_refresh(self) -> None:
        table = self.query_one(DataTable)
        infos = self.launcher.viewers()
        selected = self.selected_id()
        rows = {  # names and viewer errors: terminal-safe
            str(i.id): (terminal_safe(i.guest), str(i.pid), _started(i), terminal_safe(_state(i)))
            for i in infos
        }
        current = [str(k.value) for k in table.rows]
        if current == list(rows):
            for key, cells in rows.items():
                for column, value in zip(self.COLUMNS, cells, strict=True):
                    if _plain(table.get_cell(key, column)) != value:
                        table.update_cell(key, column, _cell(value))
        else:
            table.clear()
            for key, cells in rows.items():
                table.add_row(*(_cell(c) for c in cells), key=key)
            if selected is not None and str(selected) in rows:
                table.move_cursor(row=table.get_row_index(str(selected)))
        self.query_one("#viewers-empty").display = not rows
        table.display = bool(rows)

    def selected_id(self) -> int | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def action_close_viewer(self) -> None:
        vid = self.selected_id()
        if vid is None:
            self.notify("No viewer selected.", severity="warning", timeout=3)
            return
        launcher = self.launcher
        self.app.runner.submit(  # type: ignore[attr-defined]
            "close viewer", lambda: launcher.close(vid), done=self._viewer_closed
        )

    def _viewer_closed(self, info: ViewerInfo | None) -> None:
        if info is None:
            return
        self.notify(f"Closed the viewer of {info.guest} (pid {info.pid}).", timeout=3, markup=False)
        self.action_refresh()
