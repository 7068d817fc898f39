"""The clone, delete and edit dialogs and the XML editor's diff (issue 21); the create form
and the job dialog they build on are in :mod:`tui.ui.screens.provision`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from tui.core.ports import BackendError
from tui.model.provision import (
    Created,
    DeletePlan,
    GuestEdit,
    GuestSettings,
    name_problem,
)
from tui.ui import actions
from tui.ui.deck import deck_of
from tui.ui.widgets.footer import KeysFooter
from tui.util import terminal_safe

if TYPE_CHECKING:
    from tui.core.ports import Provisioning


from tui.ui.screens.job_dialog import _JobDialog, _row, parse_int, plain


# -- clone ----------------------------------------------------------------------------------------
class CloneScreen(_JobDialog[Created]):
    BINDINGS = actions.bindings("provision_dialog")
    DEFAULT_CSS = """
    CloneScreen { align: center middle; }
    CloneScreen > Vertical {
        width: 100%; max-width: 76; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    CloneScreen #cl-problem { color: $error; height: auto; }
    CloneScreen #p-progress { color: $warning; height: auto; }
    CloneScreen #cl-note { color: $text-muted; height: auto; }
    CloneScreen Horizontal { height: auto; align: right middle; }
    """

    def __init__(self, ops: Provisioning, uuid: str, name: str) -> None:
        super().__init__()
        self.ops = ops
        self.uuid = uuid
        self.guest = name
        self.created: Created | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(terminal_safe(f"Clone {self.guest}"), style="bold"))
            yield Input(value=f"{self.guest}-clone", placeholder="the clone's name", id="cl-name")
            yield Checkbox(
                "linked: qcow2 overlays on this guest's disks (fast; keep it shut off)",
                value=False,
                id="cl-linked",
            )
            yield Static(
                plain("New UUID and MAC addresses; the disks are copied on the host (full)."),
                id="cl-note",
            )
            yield Static("", id="cl-problem")
            yield from self._progress_widgets()
            with Horizontal():
                yield Button("Cancel (Esc)", id="cl-cancel")
                yield Button("Clone (Enter)", id="cl-go", variant="primary")
        yield KeysFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#cl-name", Input).focus()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._go()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cl-go":
            self._go()
        else:
            self.action_cancel()

    def _go(self) -> None:
        if self.job is not None or actions.refuse(deck_of(self), "guest.clone"):
            return
        name = self.query_one("#cl-name", Input).value.strip()
        why = name_problem(name)
        if why:
            self.query_one("#cl-problem", Static).update(plain(f"Name: {why}"))
            return
        linked = self.query_one("#cl-linked", Checkbox).value
        ops, uuid = self.ops, self.uuid

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, BackendError):
                return False
            self.query_one("#cl-problem", Static).update(plain(exc.message))
            return True

        def done(got: Created) -> None:
            self.created = got
            self.app.notify(got.message, title="Clone", markup=False)
            deck_of(self).log_event(got.message)
            self.dismiss(got)

        self.run_job(
            f"clone {self.guest}",
            lambda progress: ops.clone(uuid, name, linked, progress),
            done,
            failed,
        )


# -- delete ---------------------------------------------------------------------------------------
class DeleteScreen(ModalScreen[bool]):
    """What goes with the guest, and its name typed to confirm."""

    BINDINGS = actions.bindings("provision_dialog")
    DEFAULT_CSS = """
    DeleteScreen { align: center middle; }
    DeleteScreen > Vertical {
        width: 100%; max-width: 84; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 0 1;
    }
    DeleteScreen VerticalScroll { height: auto; max-height: 12; }
    DeleteScreen #d-problem { color: $error; height: auto; }
    DeleteScreen Horizontal { height: auto; align: right middle; }
    """

    def __init__(self, ops: Provisioning, plan: DeletePlan) -> None:
        super().__init__()
        self.ops = ops
        self.plan = plan
        self.message = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(plain("\n".join(self.plan.lines())), id="d-plan")
            yield Label(plain(f"Type {self.plan.name} to delete it (Esc: keep it):"))
            yield Input(placeholder=self.plan.name, id="d-name")
            yield Static("", id="d-problem")
            with Horizontal():
                yield Button("Keep (Esc)", id="d-keep")
                yield Button("Delete (Enter)", id="d-go", variant="error")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#d-name", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._go()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "d-go":
            self._go()
        else:
            self.dismiss(False)

    def _go(self) -> None:
        if actions.refuse(deck_of(self), "guest.delete"):
            return
        typed = self.query_one("#d-name", Input).value
        if typed != self.plan.name:
            self.query_one("#d-problem", Static).update(
                plain(f"That is not {self.plan.name}: type the guest's name exactly, or Esc.")
            )
            return
        runner = deck_of(self).runner
        if runner is None:
            return
        ops, uuid = self.ops, self.plan.uuid

        def done(msg: str) -> None:
            self.message = msg
            self.app.notify(msg, title="Delete guest", markup=False)
            deck_of(self).log_event(msg)
            self.dismiss(True)

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, BackendError):
                return False
            self.query_one("#d-problem", Static).update(plain(exc.message))
            return True

        runner.submit(f"delete {self.plan.name}", lambda: ops.delete(uuid), done, failed)


# -- edit -----------------------------------------------------------------------------------------
class EditScreen(ModalScreen[str | None]):
    BINDINGS = actions.bindings("provision_dialog")
    DEFAULT_CSS = """
    EditScreen { align: center middle; }
    EditScreen > Vertical {
        width: 100%; max-width: 76; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    EditScreen .c-row { height: auto; }
    EditScreen .c-label { width: 12; padding: 1 1 0 0; }
    EditScreen .c-row Input { width: 1fr; }
    EditScreen #e-note { color: $text-muted; height: auto; }
    EditScreen #e-problem { color: $error; height: auto; }
    EditScreen #e-buttons { height: auto; align: right middle; }
    """

    def __init__(self, ops: Provisioning, s: GuestSettings) -> None:
        super().__init__()
        self.ops = ops
        self.s = s

    def compose(self) -> ComposeResult:
        s = self.s
        with Vertical():
            yield Label(Text(terminal_safe(f"Edit {s.name}"), style="bold"))
            yield _row("vCPUs", Input(value=str(s.vcpus), id="e-vcpus"))
            yield _row("Memory MiB", Input(value=str(s.memory_mib), id="e-memory"))
            yield _row("Name", Input(value=s.name, id="e-name", disabled=s.active))
            yield Checkbox("start with the host (autostart)", value=s.autostart, id="e-autostart")
            note = "Saved config; applied at the next start."
            if s.active:
                note = (
                    f"Running with {s.live_vcpus} vCPUs and {s.live_memory_mib} MiB: changes up"
                    f" to the maximum ({s.max_vcpus} vCPUs, {s.max_memory_mib} MiB) apply live"
                    " too. Rename needs it shut off."
                )
            yield Static(plain(note), id="e-note")
            yield Static("", id="e-problem")
            with Horizontal(id="e-buttons"):
                yield Button("Cancel (Esc)", id="e-cancel")
                yield Button("Apply (Enter)", id="e-go", variant="primary")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#e-vcpus", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._go()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "e-go":
            self._go()
        else:
            self.dismiss(None)

    def _go(self) -> None:
        if actions.refuse(deck_of(self), "guest.edit"):
            return
        problem = self.query_one("#e-problem", Static)
        try:
            vcpus = parse_int(self.query_one("#e-vcpus", Input).value, "vCPUs")
            memory = parse_int(self.query_one("#e-memory", Input).value, "Memory")
        except ValueError as exc:
            problem.update(plain(str(exc)))
            return
        name = self.query_one("#e-name", Input).value.strip()
        change = GuestEdit(
            vcpus=vcpus,
            memory_mib=memory,
            autostart=self.query_one("#e-autostart", Checkbox).value,
            new_name=name if name and name != self.s.name else None,
        )
        runner = deck_of(self).runner
        if runner is None:
            return
        ops, uuid = self.ops, self.s.uuid

        def done(msg: str) -> None:
            self.app.notify(msg, title="Edit guest", markup=False)
            deck_of(self).log_event(msg)
            self.dismiss(msg)

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, BackendError):
                return False
            problem.update(plain(exc.message))
            return True

        runner.submit(f"edit {self.s.name}", lambda: ops.edit(uuid, change), done, failed)


# -- the XML editor's diff ----------------------------------------------------------------------
class XmlDiffScreen(ModalScreen[bool]):
    """The edited XML's diff against the saved one: y defines it, n / Esc keeps the edit in a
    file and changes nothing."""

    BINDINGS = actions.bindings("confirm")
    DEFAULT_CSS = """
    XmlDiffScreen { align: center middle; }
    XmlDiffScreen > Vertical {
        width: 100%; max-width: 110; height: 100%; max-height: 40;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    XmlDiffScreen #x-diff {
        height: 1fr; border: round $panel; border-title-color: $text-muted;
        scrollbar-size-vertical: 1;
    }
    XmlDiffScreen #x-question { height: auto; }
    XmlDiffScreen Horizontal { height: auto; align: right middle; }
    XmlDiffScreen Button { margin-left: 2; }
    """

    def __init__(self, guest: str, diff: str) -> None:
        super().__init__()
        self.guest = guest
        self.diff = diff

    def compose(self) -> ComposeResult:
        from tui.ui.screens.spice_ready import diff_text

        with Vertical():
            yield Static(Text(terminal_safe(f"Save the edited XML of {self.guest}?"), style="bold"))
            scroll = VerticalScroll(id="x-diff")
            scroll.border_title = "XML diff (↑ ↓ PgUp PgDn scroll)"
            with scroll:
                yield Static(diff_text(self.diff), id="x-diff-text")
            yield Static(
                plain("libvirt checks it against its schema; a refusal opens the editor again."),
                id="x-question",
            )
            with Horizontal():
                yield Button(Text("No (n)"), id="no")
                yield Button(Text("Save (y)"), id="yes", variant="warning")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#x-diff", VerticalScroll).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
