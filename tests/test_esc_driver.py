"""The Esc key through the terminal driver's real input thread (tui/ui/compat.py).

Textual's Linux driver held a lone ESC byte until its input thread's ``select(0.1)`` returned,
so Escape came 100-200 ms after the key whatever ``ESCDELAY`` said. kvmdeck's driver waits in
select only until the parser's ESC timeout is due. These tests run that input thread on a pipe
(the thread reads a file descriptor; a pipe is what a terminal's input is to it) and check what
it makes of the bytes and how long it asks select to wait — the arguments, not the clock: speed
is measured in bench/ (P7's Esc).
"""

from __future__ import annotations

import os
import selectors
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import textual.constants
from textual import events
from textual.app import App
from textual.drivers.linux_driver import LinuxDriver

from testbed.wait import until
from tui.ui import compat


class Recorder:
    def __init__(self, driver_class: type[Any]) -> None:
        self.keys: list[str] = []
        self.waits: list[float | None] = []
        keys = self.keys

        class Recording(driver_class):  # type: ignore[misc,valid-type]
            def process_message(self, message: Any) -> None:
                if isinstance(message, events.Key):
                    keys.append(message.key)

        self.read_fd, self.write_fd = os.pipe()
        self.driver = Recording(App())
        self.driver.fileno = self.read_fd
        self.thread = threading.Thread(target=self.driver.run_input_thread, daemon=True)

    def send(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    def close(self) -> None:
        self.driver.exit_event.set()
        self.thread.join(5)
        os.close(self.write_fd)
        os.close(self.read_fd)


@pytest.fixture
async def recorder(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Recorder]:
    monkeypatch.delenv("ESCDELAY", raising=False)
    monkeypatch.setattr(textual.constants, "ESCAPE_DELAY", textual.constants.ESCAPE_DELAY)
    cls = compat.input_driver()
    assert cls is not None and issubclass(cls, LinuxDriver)
    rec = Recorder(cls)
    real_select = selectors.SelectSelector.select

    def select(self: selectors.SelectSelector, timeout: float | None = None) -> Any:
        rec.waits.append(timeout)
        return real_select(self, timeout)

    monkeypatch.setattr(selectors.SelectSelector, "select", select)
    rec.thread.start()
    yield rec
    rec.close()


async def test_a_lone_esc_is_escape_and_select_waits_only_until_it_is_due(
    recorder: Recorder,
) -> None:
    assert textual.constants.ESCAPE_DELAY == compat.ESC_DELAY_DEFAULT_MS / 1000.0
    await until(lambda: recorder.waits, "the input thread's first select", 5)
    recorder.send(b"\x1b")
    await until(lambda: recorder.keys, "a key from the lone ESC", 5)
    assert recorder.keys == ["escape"]
    # after the ESC byte the thread asked select for no more than the ESC delay (Textual: 0.1)
    assert any(w is not None and w <= textual.constants.ESCAPE_DELAY for w in recorder.waits)
    assert all(w is not None and w <= 0.1 for w in recorder.waits)


async def test_escape_sequences_are_still_keys_not_escape(recorder: Recorder) -> None:
    await until(lambda: recorder.waits, "the input thread's first select", 5)
    recorder.send(b"\x1b[B")  # Down, in one write, as a terminal sends it
    recorder.send(b"q")
    recorder.send(b"\x1b[1;5A")  # Ctrl+Up
    await until(lambda: len(recorder.keys) >= 3, "three keys", 5)
    assert recorder.keys == ["down", "q", "ctrl+up"]


def test_escdelay_in_the_environment_is_textuals_to_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textual.constants, "ESCAPE_DELAY", 0.3)
    assert compat.set_escape_delay({"ESCDELAY": "300"}) == 0.3  # left as Textual read it
    assert compat.set_escape_delay({}) == compat.ESC_DELAY_DEFAULT_MS / 1000.0


def test_other_drivers_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.drivers.headless_driver import HeadlessDriver

    assert compat.prompt_driver_class(HeadlessDriver) is HeadlessDriver
    monkeypatch.setattr(textual.constants, "DRIVER", "textual.drivers.web_driver:WebDriver")
    assert compat.input_driver() is None  # TEXTUAL_DRIVER: Textual chooses
