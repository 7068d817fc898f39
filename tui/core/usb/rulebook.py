"""The USB coordinator's rules side: load ``rules.toml``, notice changes to it, save changes.

:class:`RuleBook` is a base class of :class:`tui.core.usb.coordinator.UsbCoordinator`; it runs
every file access as one of the coordinator's serial jobs (a worker thread, never the loop), so
a reload never overtakes a save and the other way round.

* **Load**: a file that does not load leaves the engine with no rules, a message naming the file
  and the line, and saving refused until it is fixed.
* **Hand edits**: :meth:`RuleBook.check_rules` (from the coordinator's tick, every
  :data:`RULES_CHECK_S`) stats the file; when its signature (device, inode, size, mtime)
  changed it is read again and the rules re-evaluated. A broken edit keeps the last good rules
  applying (the USB screen says so) and refuses saving until the file loads again.
* **Saves** (``R``/``D``): :func:`tui.core.usb.rules.edit_rules`, read-modify-write under the
  save lock, changing only the one rule's lines. Refused under ``--readonly``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.core.usb.engine import RuleEngine
from tui.core.usb.requests import Request, UsbNote, format_status
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


class RuleBook:
    """Rules for the coordinator. It provides the attributes and the three methods below."""

    engine: RuleEngine | None
    rules_file: Path
    readonly: bool
    started: bool
    clock: Callable[[], float]
    on_note: Callable[[UsbNote], None]
    on_update: Callable[[], None]

    rules_error = ""  # why rules.toml does not load (then it is never written)
    _rules_sig: Any = UNKNOWN
    _rules_watched = False  # rules given by the caller (use_rules) are not watched
    _rules_checked_at: float | None = None
    _rules_reading = False

    def _job(
        self,
        name: str,
        fn: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], bool | None] | None = None,
    ) -> None:
        raise NotImplementedError  # the coordinator's serial queue

    def _submit(self, requests: list[Request]) -> None:
        raise NotImplementedError

    def _maybe_start(self) -> None:
        raise NotImplementedError

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
        if self._rules_watched and self.engine is not None and not self._rules_reading:
            self._read_rules(self._rules_sig)

    def _tick_rules(self) -> None:
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

        self._job("usb rules load" if known is UNKNOWN else "usb rules check", run, done, failed)

    def _rules_read(self, sig: Signature, rules: list[Rule] | None, error: str) -> None:
        self._rules_sig = sig
        path, engine = self.rules_file, self.engine
        if error:
            if error != self.rules_error:
                self.rules_error = error
                kept = len(engine.rules) if engine is not None else 0
                if kept:
                    self.on_note(UsbNote(f"USB rules not reloaded: {self.rules_problem()}", False))
                else:
                    self.on_note(UsbNote(f"USB rules not loaded: {error}", ok=False))
            if engine is None:
                self.use_rules([], RulesLock.beside(path))
            self.on_update()
            return
        if rules is None:
            return  # unchanged
        fixed, self.rules_error = bool(self.rules_error), ""
        if engine is None:
            self.use_rules(rules, RulesLock.beside(path))
            return
        if rules != engine.rules:
            self.on_note(UsbNote(f"USB rules reloaded from {path}: {len(rules)} rule(s)"))
            self._set_rules(rules)
        elif fixed:
            self.on_note(UsbNote(f"USB rules: {path} loads again ({len(rules)} rule(s))"))
        self.on_update()

    def _set_rules(self, rules: list[Rule]) -> None:
        assert self.engine is not None
        if self.started:
            self._submit(self.engine.set_rules(rules))
        else:
            self.engine.rules = list(rules)  # the start pass evaluates them

    def use_rules(self, rules: list[Rule], lock: RulesLock | None) -> None:
        """Start the engine with these rules (``rules --run`` loads and locks them itself)."""
        self.engine = RuleEngine(rules, lock=lock, clock=self.clock, readonly=self.readonly)
        self._maybe_start()
        self.on_update()

    # -- what the UI shows --------------------------------------------------------------------
    def rules_problem(self) -> str:
        """Why rules.toml is not in use (empty when it is), and what still applies."""
        if not self.rules_error:
            return ""
        kept = len(self.engine.rules) if self.engine is not None else 0
        if kept:
            return (
                f"{self.rules_error} The last good rules ({kept}) keep applying; nothing is "
                "saved until the file is fixed."
            )
        return f"Rules not loaded (nothing is saved until it is fixed): {self.rules_error}"

    def status_lines(self) -> list[str]:
        return [format_status(s) for s in self.engine.statuses()] if self.engine else []

    def rules_matching(self, dev: UsbDevice) -> list[Rule]:
        return [r for r in self.engine.rules if r.matches(dev)] if self.engine else []

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
        gone = len(self.rules_matching(dev))
        if not gone:
            return f"No rule matches {dev.label} ({dev.ids})."

        def change(rules: list[Rule]) -> list[Rule]:
            return [r for r in rules if not r.matches(dev)]

        return self._change_rules(change, f"removed {gone} rule(s) for {dev.label}")

    def _change_rules(
        self,
        change: Callable[[list[Rule]], list[Rule]],
        what: str,
        release: UsbDevice | None = None,
    ) -> str | None:
        if self.readonly:
            return "Read-only (--readonly): USB rules are not changed."
        if self.engine is None:
            return "USB rules are still loading."
        if self.rules_error:
            return f"Rules not saved: fix {self.rules_file} first ({self.rules_error})"
        path = self.rules_file

        def saved(result: tuple[list[Rule], Signature]) -> None:
            rules, self._rules_sig = result
            assert self.engine is not None
            if release is not None:
                self.engine.release(release.key)  # a new rule for it: rules apply again
            self.on_note(UsbNote(f"Saved to {path}: {what}"))
            self._set_rules(rules)
            self.on_update()

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, (RulesError, OSError)):
                return False
            self.on_note(UsbNote(f"Rules not saved: {exc}", ok=False))
            return True

        self._job("usb rules save", lambda: edit_rules(change, path), saved, failed)
        return None


__all__ = ["RULES_CHECK_S", "RuleBook"]
