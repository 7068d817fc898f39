"""What the storage and networks screens share: a host's capability family reached through the
runner, a busy line with the elapsed time, questions before anything destructive, and two
small dialogs (a form of text fields with one switchable option, and a choice list).

Every call of a family blocks (libvirt RPCs, maybe over ssh): it goes through
``app.runner.submit``; its message is shown (a notification and an event-log line) and the
lists are read again. Host strings are plain text (``terminal_safe``, ``Text``), never markup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.core.ports import BackendError, HostCapabilities
from tui.model.fleet import Change, Fleet
from tui.model.ids import HostId
from tui.ui import actions
from tui.ui.deck import Deck, deck_of
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

T = TypeVar("T")
F = TypeVar("F")  # the screen's family: StorageOps, NetworkOps
Cell = str | Text  # a table cell: plain text only (a host's strings through terminal_safe)


def plain(text: object) -> Text:
    """A host's string as one line of plain text."""
    return Text(terminal_safe(text))


def row_key(table: DataTable[Cell]) -> str | None:
    """The highlighted row's key, or None for an empty table."""
    if not table.row_count:
        return None
    key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    return str(key.value) if key.value is not None else None


def refill(table: DataTable[Cell], rows: list[tuple[str, list[Cell]]], keep: str | None) -> None:
    """Replace the rows, keeping the cursor on row ``keep`` when it is still there."""
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    keys = [k for k, _ in rows]
    if keep in keys:
        table.move_cursor(row=keys.index(keep))


class HostOpsScreen(Screen[None], Generic[F]):
    """A screen over one family (:meth:`family`: storage or networks) of one host."""

    TITLE_WHAT = ""

    def __init__(self, host: HostId, host_label: str) -> None:
        super().__init__()
        self.host = host
        self.host_label = host_label
        self.busy = ""  # what runs now, "" when idle
        self.note = ""  # why the last read failed, shown while idle
        self._busy_since = 0.0

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return actions.check_state(action, parameters, self.deck.readonly)

    @property
    def deck(self) -> Deck:
        return deck_of(self)

    def family(self, caps: HostCapabilities) -> F | None:
        """The screen's family of a host's capabilities (None: the host lacks it)."""
        raise NotImplementedError

    def ops(self, quiet: bool = False) -> F | None:
        """The host's family while it is connected, or None after saying why (``quiet``: a
        read, which comes again when the host is up, says nothing)."""
        if not self.deck.is_up(self.host) or self.deck.runner is None:
            if not quiet:
                self.app.notify(
                    f"{self.host_label} is not connected: wait for it.",
                    severity="warning",
                    markup=False,
                )
            return None
        family = self.family(self.deck.caps(self.host))
        if family is None:
            self.app.notify(
                f"{self.TITLE_WHAT} is not available on {self.host_label}.",
                severity="warning",
                markup=False,
            )
        return family

    def submit(
        self,
        what: str,
        call: Callable[[F], T],
        done: Callable[[T], None],
        busy: str = "",
        quiet: bool = False,
    ) -> bool:
        """Run ``call(family)`` on the runner; ``done(result)`` on the loop. A BackendError is
        shown and logged (``quiet``: only logged, for reads) and the lists are read again."""
        ops, runner = self.ops(quiet=quiet), self.deck.runner
        if ops is None or runner is None:
            return False
        if busy:
            self.set_busy(busy)

        def failed(exc: BaseException) -> bool:
            if busy:
                self.set_busy("")
            if not isinstance(exc, BackendError):
                return False
            if quiet:  # a read: said on the screen's own line until the next one works
                self.note = exc.message
                self.tick()
            else:
                self.app.notify(exc.message, title=self.TITLE_WHAT, severity="error", markup=False)
            self.deck.log_event(exc.message)
            if busy and self.is_attached:
                self.reload()
            return True

        def ok(result: T) -> None:
            if busy:
                self.set_busy("")
            if quiet and self.note:
                self.note = ""
                self.tick()
            done(result)

        runner.submit(what, lambda: call(ops), done=ok, failed=failed)
        return True

    def mutate(self, what: str, doing: str, call: Callable[[F], str]) -> bool:
        """A change on the host: ``doing`` on the busy line while it runs, then its message
        said (:meth:`said`)."""
        return self.submit(what, call, self.said, busy=doing)

    def render_fleet(self, fleet: Fleet, change: Change) -> None:
        """Opened before the host was up (or it came back): read the lists when it is."""
        if change.link and not self.loaded and self.deck.is_up(self.host):
            self.reload()

    @property
    def loaded(self) -> bool:  # the screens say whether their main list was read
        return True

    def said(self, message: str) -> None:
        """A mutation's message: notified, logged, and the lists read again (if the screen is
        still open: an upload goes on after Esc, and says how it ended)."""
        self.app.notify(message, title=self.TITLE_WHAT, markup=False)
        self.deck.log_event(message)
        if self.is_attached:
            self.reload()

    def reload(self) -> None:  # the screens read their lists
        raise NotImplementedError

    def action_reload(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.app.pop_screen()

    # -- busy line ---------------------------------------------------------------------------
    def set_busy(self, text: str) -> None:
        self.busy = text
        self._busy_since = time.monotonic()
        self.tick()

    def busy_text(self, spent: float) -> str:
        return f"{self.busy}… {spent:.0f} s"

    def tick(self) -> None:
        try:
            line = self.query_one("#ops-busy", Static)
        except Exception:  # unmounting
            return
        if not self.busy:
            line.update(Text(terminal_safe(self.note), style="bold red"))
            return
        spent = time.monotonic() - self._busy_since
        spin = "|/-\\"[int(spent * 2) % 4]
        line.update(Text(terminal_safe(f"{spin} {self.busy_text(spent)}")))

    def not_busy(self, action_id: str) -> bool:
        if self.busy:
            actions.say_refused(self.deck, action_id, f"wait: {self.busy}")
            return False
        return True

    def ask(self, question: str, yes: str, then: Callable[[], object]) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmScreen(question, yes_label=yes), answered)


# -- dialogs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    id: str
    label: str
    value: str = ""
    placeholder: str = ""


class FormDialog(ModalScreen[dict[str, str] | None]):
    """Text fields and, optionally, one option Ctrl+T switches. Enter in a field goes ahead
    when ``check(values)`` finds nothing wrong; what it finds is shown. Esc cancels."""

    BINDINGS = actions.bindings("storage_form")
    DEFAULT_CSS = """
    FormDialog { align: center middle; }
    FormDialog > VerticalScroll {
        width: 100%; max-width: 76; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    FormDialog .form-label { margin-top: 1; }
    FormDialog #form-option { margin-top: 1; height: auto; }
    FormDialog #form-problem { color: $error; height: auto; }
    FormDialog Horizontal { height: auto; align: right middle; }
    """

    def __init__(
        self,
        title: str,
        fields: list[Field],
        check: Callable[[dict[str, str]], str],
        option: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.check = check
        self.option = option
        self.choice = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(Text(terminal_safe(self.title_text), style="bold"))
            for f in self.fields:
                yield Label(Text(f.label), classes="form-label")
                yield Input(value=f.value, placeholder=f.placeholder, id=f"form-{f.id}")
            if self.option is not None:
                yield Static("", id="form-option")
            yield Static("", id="form-problem")
            with Horizontal():
                yield Button("Cancel (Esc)", id="form-cancel")
                yield Button("OK (Enter)", id="form-ok", variant="primary")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._show_option()
        self.query(Input).first().focus()

    def _show_option(self) -> None:
        if self.option is None:
            return
        label, choices = self.option
        text = Text(f"{label}: ")
        text.append(choices[self.choice], style="bold")
        others = [c for i, c in enumerate(choices) if i != self.choice]
        text.append(f"   (Ctrl+T: {' / '.join(others)})", style="dim")
        self.query_one("#form-option", Static).update(text)

    def values(self) -> dict[str, str]:
        out = {f.id: self.query_one(f"#form-{f.id}", Input).value.strip() for f in self.fields}
        if self.option is not None:
            out["option"] = self.option[1][self.choice]
        return out

    def action_switch_option(self) -> None:
        if self.option is not None:
            self.choice = (self.choice + 1) % len(self.option[1])
            self._show_option()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "form-ok":
            self.submit()
        else:
            self.dismiss(None)

    def submit(self) -> None:
        values = self.values()
        problem = self.check(values)
        if problem:
            self.query_one("#form-problem", Static).update(Text(terminal_safe(problem)))
            return
        self.dismiss(values)


class ChoiceDialog(ModalScreen[int | None]):
    """Pick one line (Enter); Esc cancels. Returns the line's index."""

    BINDINGS = actions.bindings("storage_choice")
    DEFAULT_CSS = """
    ChoiceDialog { align: center middle; }
    ChoiceDialog > VerticalScroll {
        width: 100%; max-width: 76; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ChoiceDialog OptionList { height: auto; max-height: 14; }
    """

    def __init__(self, title: str, choices: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(Text(terminal_safe(self.title_text), style="bold"))
            yield OptionList(*(Option(plain(c)) for c in self.choices), id="choice-list")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)
