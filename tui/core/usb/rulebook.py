"""The USB coordinator's rules side: load ``rules.toml``, notice changes to it, save changes.

:class:`RuleBook` is an object the coordinator (:class:`tui.core.usb.coordinator.
UsbCoordinator`) holds. It talks back through a :class:`RulesOwner`: every file access is one of
the coordinator's serial jobs (a worker thread, never the loop), so a reload never overtakes a
save and the other way round; rules that loaded (or changed) go to the coordinator's engine.

* **Load**: a file that does not load leaves the engine with no rules, a message naming the file
  and the line, and saving refused until it is fixed.
* **Hand edits**: :meth:`RuleBook.check_rules` (from the coordinator's tick, every
  :data:`RULES_CHECK_S`) stats the file; when its signature (device, inode, size, mtime)
  changed it is read again and the rules re-evaluated. A broken edit keeps the last good rules
  applying (the USB screen says so) and refuses saving until the file loads again.
* **Saves** (``R``/``D``): :func:`tui.core.usb.rules.edit_rules`, read-modify-write under the
  save lock, changing only the one rule's lines. Refused under ``--readonly``. ``D`` forgets a
  rule by itself (a row of the rules list) whether or not its device is plugged in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tui.core.usb.requests import UsbNote
from tui.core.usb.rulelock import RulesLock
from tui.core.usb.rules import (
    Rule,
    RulesError,
    Signature,
    edit_rules,
    read_rules_signed,
    rules_from_bytes,
    signature,
)
from tui.model.usb import UsbDevice

RULES_CHECK_S = 2.0  # how often the file's signature is looked at (a stat in a worker thread)
UNKNOWN: Any = object()  # no signature yet: the next check reads the file

# (signature, rules or None when unchanged, error message or "")
ReadResult = tuple[Signature, list[Rule] | None, str]


class RulesOwner(Protocol):
    """What the rule book needs from its coordinator (the loop's thread only)."""

    def rules_job(
        self,
        name: str,
        fn: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], bool | None] | None = None,
    ) -> None:
        """Run ``fn`` as one of the coordinator's serial jobs."""
        ...

    def current_rules(self) -> list[Rule] | None:
        """The rules the engine applies, or None while there is no engine yet."""
        ...

    def install_rules(self, rules: list[Rule], lock: RulesLock | None) -> None:
        """Rules loaded for the first time: start the engine with them (and this lock)."""
        ...

    def change_rules(self, rules: list[Rule]) -> None:
        """The file's rules changed (a reload or a save): the engine applies these now."""
        ...

    def release_device(self, key: str) -> None:
        """A new rule for this device: what was done by hand no longer holds it back."""
        ...


class RuleBook:
    """rules.toml for one coordinator: load, reload on change, save (each a job of its)."""

    def __init__(
        self,
        owner: RulesOwner,
        rules_file: Path,
        *,
        readonly: bool,
        clock: Callable[[], float],
        on_note: Callable[[UsbNote], None],
        on_update: Callable[[], None],
    ) -> None:
        self.owner = owner
        self.rules_file = rules_file
        self.readonly = readonly
        self.clock = clock
        self.on_note = on_note
        self.on_update = on_update
        self.rules_error = ""  # why rules.toml does not load (then it is never written)
        self._rules_sig: Any = UNKNOWN
        self._rules_watched = False  # rules given by the caller (use_rules) are not watched
        self._rules_checked_at: float | None = None
        self._rules_reading = False

    def _kept(self) -> int:
        return len(self.owner.current_rules() or ())

    # -- loading and noticing changes ---------------------------------------------------------
    def load_rules(self) -> None:
        """Read rules.toml in a job; a file that does not load leaves no rules and a message.
        From then on the file is watched (:meth:`check_rules`)."""
        self._rules_watched = True
        self._read_rules(UNKNOWN)

    def watch_rules(self) -> None:
        """Watch rules.toml from now on, for rules given to :meth:`use_rules` that came from it
        (``kvmdeck rules --run``): the first check reads it, a difference is a reload."""
        self._rules_watched = True

    def check_rules(self) -> None:
        """Reload rules.toml if it changed on disk (by hand, by another kvmdeck): a stat in a
        job, a read only when the signature differs. At most one check waits at a time."""
        if (
            self._rules_watched
            and self.owner.current_rules() is not None
            and not self._rules_reading
        ):
            self._read_rules(self._rules_sig)

    def tick(self) -> None:
        """From the coordinator's tick: a look at the file every :data:`RULES_CHECK_S`."""
        now = self.clock()
        if self._rules_checked_at is None or now - self._rules_checked_at >= RULES_CHECK_S:
            self._rules_checked_at = now
            self.check_rules()

    def _read_rules(self, known: Any) -> None:
        path = self.rules_file
        self._rules_reading = True

        def run() -> ReadResult:
            try:
                if known is not UNKNOWN and signature(path) == known:
                    return known, None, ""
                raw, sig = read_rules_signed(path)
            except (OSError, RulesError) as exc:
                return None, None, str(exc)
            try:
                return sig, rules_from_bytes(raw, path), ""
            except RulesError as exc:
                return sig, None, str(exc)

        def done(result: ReadResult) -> None:
            self._rules_reading = False
            self._rules_read(*result)

        def failed(_exc: BaseException) -> bool:
            self._rules_reading = False
            return False  # a bug: the runner's one error handler reports it

        name = "usb rules load" if known is UNKNOWN else "usb rules check"
        self.owner.rules_job(name, run, done, failed)

    def _rules_read(self, sig: Signature, rules: list[Rule] | None, error: str) -> None:
        self._rules_sig = sig
        path, current = self.rules_file, self.owner.current_rules()
        if error:
            if error != self.rules_error:
                self.rules_error = error
                if current:
                    self.on_note(UsbNote(f"USB rules not reloaded: {self.rules_problem()}", False))
                else:
                    self.on_note(UsbNote(f"USB rules not loaded: {error}", ok=False))
            if current is None:
                self.owner.install_rules([], RulesLock.beside(path))
            self.on_update()
            return
        if rules is None:
            return  # unchanged
        fixed, self.rules_error = bool(self.rules_error), ""
        if current is None:
            self.owner.install_rules(rules, RulesLock.beside(path))
            return
        if rules != current:
            self.on_note(UsbNote(f"USB rules reloaded from {path}: {len(rules)} rule(s)"))
            self.owner.change_rules(rules)
        elif fixed:
            self.on_note(UsbNote(f"USB rules: {path} loads again ({len(rules)} rule(s))"))
        self.on_update()

    # -- what the UI shows --------------------------------------------------------------------
    def rules_problem(self) -> str:
        """Why rules.toml is not in use (empty when it is), and what still applies."""
        if not self.rules_error:
            return ""
        kept = self._kept()
        if kept:
            return (
                f"{self.rules_error} The last good rules ({kept}) keep applying; nothing is "
                "saved until the file is fixed."
            )
        return f"Rules not loaded (nothing is saved until it is fixed): {self.rules_error}"

    def matching(self, dev: UsbDevice) -> list[Rule]:
        return [r for r in self.owner.current_rules() or () if r.matches(dev)]

    # -- saving ---------------------------------------------------------------------------------
    def add_rule(
        self, dev: UsbDevice, guest: str, persistent: bool, by: str = "auto"
    ) -> str | None:
        """Always attach ``dev`` to ``guest``, naming it ``by`` "ids", "serial", "port" (alone)
        or "auto". The new rule goes before the rules that already match the device (so it
        takes it), or replaces one naming it the same way. Returns why not, or None."""
        rule = Rule.for_device(dev, guest, persistent=persistent, by=by)

        def change(rules: list[Rule]) -> list[Rule]:
            rest = [r for r in rules if r.selector != rule.selector]
            first = next((i for i, r in enumerate(rest) if r.matches(dev)), len(rest))
            return [*rest[:first], rule, *rest[first:]]

        return self._change_rules(change, rule.describe(), release=dev)

    def forget_rules(self, dev: UsbDevice) -> str | None:
        """Delete the rule(s) matching ``dev``. Returns why not, or None (saved in a job)."""
        gone = len(self.matching(dev))
        if not gone:
            return f"No rule matches {dev.label} ({dev.ids})."

        def change(rules: list[Rule]) -> list[Rule]:
            return [r for r in rules if not r.matches(dev)]

        return self._change_rules(change, f"removed {gone} rule(s) for {dev.label}")

    def forget_rule(self, rule: Rule) -> str | None:
        """Delete this one rule (a row of the rules list), plugged in or not. Returns why not,
        or None (saved in a job)."""
        if rule not in (self.owner.current_rules() or ()):
            return f"The rule {rule.describe()} is no longer in {self.rules_file}."

        def change(rules: list[Rule]) -> list[Rule]:
            return [r for r in rules if r != rule]

        return self._change_rules(change, f"removed the rule {rule.describe()}")

    def _change_rules(
        self,
        change: Callable[[list[Rule]], list[Rule]],
        what: str,
        release: UsbDevice | None = None,
    ) -> str | None:
        if self.readonly:
            return "Read-only (--readonly): USB rules are not changed."
        if self.owner.current_rules() is None:
            return "USB rules are still loading."
        if self.rules_error:
            return f"Rules not saved: fix {self.rules_file} first ({self.rules_error})"
        path = self.rules_file

        def saved(result: tuple[list[Rule], Signature]) -> None:
            rules, self._rules_sig = result
            if release is not None:
                self.owner.release_device(release.key)  # a new rule for it: rules apply again
            self.on_note(UsbNote(f"Saved to {path}: {what}"))
            self.owner.change_rules(rules)
            self.on_update()

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, (RulesError, OSError)):
                return False
            self.on_note(UsbNote(f"Rules not saved: {exc}", ok=False))
            return True

        self.owner.rules_job("usb rules save", lambda: edit_rules(change, path), saved, failed)
        return None


__all__ = ["RULES_CHECK_S", "RuleBook", "RulesOwner"]
