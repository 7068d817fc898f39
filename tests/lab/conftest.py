"""The USB lab suite: one L1 VM (QEMU TCG) per session, with real xhci, udev and libvirtd.

The session fixture builds the L1 image when the recipe changed (cached under
/var/tmp/kvmdeck-lab/<recipe hash>), boots L1 once, installs kvmdeck from this checkout's wheel,
starts the OS-less guest L2, and stops everything by PID at the end. With CI=true a lab that
cannot be built or booted FAILS the run; elsewhere the suite skips and says why.
Run it on its own: ``.venv/bin/pytest tests/lab -m lab`` (``make test`` does, last).

kvmdeck's TUI is started once and kept on its USB screen; the tests that stop it (marked
``lab_headless``: ``kvmdeck rules --run`` holds the rules lock alone) run last.

While writing tests: ``python3 -m lab.labctl up`` once, then ``KVMDECK_LAB_REUSE=1 pytest
tests/lab -m lab`` runs against that L1 (not stopped at the end; ``python3 -m lab.labctl
install`` after changing kvmdeck, ``python3 -m lab.labctl down`` when done).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.labctl import Lab, LabError, LineStream, build_wheel, build_wheelhouse, wait_for
from testbed.bed import in_ci
from tests.lab import ui

REPO = Path(__file__).resolve().parents[2]
HOST_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "ssh": "openssh-client",
    "scp": "openssh-client",
    "ss": "iproute2",
}
SETUP_TIMEOUT = 1500  # first test: may build (~2 min) and bake (~1 min) the image, boot, install
TEST_TIMEOUT = 300
REUSE = "KVMDECK_LAB_REUSE"
RULES_TOML = "/root/.config/kvmdeck/rules.toml"


def say(request: pytest.FixtureRequest, text: str) -> None:
    """A line in pytest's output even while it captures (the lab's timings)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n    [lab] {text}", flush=True)


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true and the USB lab is unavailable: {reason}", pytrace=False)
    pytest.skip(f"USB lab unavailable: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab_headless: stops kvmdeck's TUI in L1 (runs after the other lab tests)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # stable: the order of the files and tests, except that the headless ones come last
    items[:] = sorted(items, key=lambda i: i.get_closest_marker("lab_headless") is not None)
    lab_items = [i for i in items if Path(str(i.fspath)).is_relative_to(Path(__file__).parent)]
    for n, item in enumerate(lab_items):
        item.add_marker(pytest.mark.lab)
        # pytest-timeout counts fixture setup: the first test carries the lab's build and boot;
        # a test's own timeout marker (a long one) wins over TEST_TIMEOUT
        if n == 0 or item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SETUP_TIMEOUT if n == 0 else TEST_TIMEOUT))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A booted L1 with kvmdeck installed and L2 running (see lab/README.md)."""
    if os.geteuid() != 0:
        unavailable("needs root (mmdebstrap --mode=root, QEMU as root); run as root")
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        unavailable(
            f"missing host packages: apt-get install {' '.join(missing)} (make sysdeps-test)"
        )
    log = lambda msg: print(f"[lab] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    if os.environ.get(REUSE) == "1":
        try:
            reused = Lab.from_state(log=log)
        except LabError as exc:
            unavailable(f"{REUSE}=1: {exc}")
        reused.push_helpers()  # this checkout's lab/l1
        reused.unplug_all(leftovers=True)  # what an interrupted run left
        reused.detach_all_hostdevs("L2")
        reused.start_guest("L2")
        yield reused
        return
    lab = Lab(log=log)
    try:
        lab.ensure_image()
        lab.boot()
    except (LabError, OSError) as exc:
        if lab.pid is not None:
            lab.stop()
        unavailable(f"cannot build or boot L1: {exc}")
    try:
        wheel = build_wheel(sys.executable, tmp_path_factory.mktemp("dist"))
        lab.install_kvmdeck(wheel, build_wheelhouse(sys.executable, wheel))
        lab.start_guest("L2")
        wait_for(lambda: lab.guest_halted("L2"), 60, "L2 idle in its halt boot sector")
        say(request, f"timings (s): { {k: round(v, 1) for k, v in lab.timings.items()} }")
    except BaseException:
        lab.stop()
        raise
    try:
        yield lab
    finally:
        try:
            lab.kvmdeck_stop()
        finally:
            lab.stop()
            say(request, f"timings (s): { {k: round(v, 1) for k, v in lab.timings.items()} }")


@pytest.fixture()
def clean(lab: Lab) -> Iterator[Lab]:
    """Per test: nothing plugged, L2 running with no hostdevs, no rules (kvmdeck may stay up)."""
    yield lab
    try:
        lab.ssh(f"rm -f {RULES_TOML}")
        lab.detach_all_hostdevs("L2")
        lab.unplug_all()
    finally:
        lab.start_guest("L2")


@pytest.fixture()
def usb_screen(clean: Lab) -> Lab:
    """kvmdeck (-c qemu:///system) on its USB screen. Started once, kept across tests (a start
    under TCG takes tens of seconds); restarted when it is not running."""
    ui.ensure_usb_screen(clean)
    return clean


@pytest.fixture()
def rules_screen(usb_screen: Lab) -> Iterator[Lab]:
    """``usb_screen`` for a test that makes rules (``R``, or rules.toml by hand: kvmdeck reads
    it again when it changes). Afterwards rules.toml is removed and kvmdeck must show no rules
    before the devices go (else a rule could act on the cleanup); when it does not, it is
    stopped, and the next test starts a fresh one."""
    yield usb_screen
    lab = usb_screen
    lab.ssh(f"rm -f {RULES_TOML}")
    try:
        ui.wait_no_rules(lab)
    except LabError:
        lab.kvmdeck_stop()


@dataclass
class Watch:
    """Two helpers running in L1 for the whole session, each line stamped with L1's monotonic
    clock (second field): udev's usb events (``udev-watch.py``) and libvirt's domain and
    node-device events (``virt-events.py``). ``drain()`` both before acting, then ``expect``."""

    udev: LineStream
    virt: LineStream

    def drain(self) -> None:
        self.udev.drain()
        self.virt.drain()


@pytest.fixture(scope="session")
def watch(lab: Lab) -> Iterator[Watch]:
    w = Watch(lab.stream("udev-watch.py", "usb"), lab.stream("virt-events.py"))
    yield w
    for st in (w.udev, w.virt):
        with contextlib.suppress(Exception):
            st.close()
