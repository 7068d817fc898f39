"""Fixtures for the USB tests: a real umockdev testbed in a helper process.

These tests run in their own pytest invocation, under umockdev-wrapper::

    umockdev-wrapper .venv/bin/pytest tests/usb

A missing component (umockdev-wrapper, /usr/bin/python3 with gi.repository.UMockdev, or this
process not being under the wrapper) skips with the fix to apply; with CI=true it fails.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from testbed.bed import in_ci
from testbed.usb import Missing, NotWrapped, UsbBed, check_requirements


@functools.cache
def _requirement_problem() -> str | None:
    try:
        check_requirements()
    except (Missing, NotWrapped) as exc:
        return str(exc)
    return None


def need_bed() -> None:
    problem = _requirement_problem()
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and {problem}")
    pytest.skip(problem)


@pytest.fixture()
def usb_bed(monkeypatch: pytest.MonkeyPatch) -> Iterator[UsbBed]:
    """A fresh testbed with one root hub (/sys/devices/usb1); UMOCKDEV_DIR points at it."""
    need_bed()
    bed = UsbBed.start(root_hub=True)
    monkeypatch.setenv("UMOCKDEV_DIR", bed.root)
    try:
        yield bed
    finally:
        bed.close()
