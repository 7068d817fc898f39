"""The USB lab suite: one L1 VM (QEMU TCG) per session, with real xhci, udev and libvirtd.

The session fixture builds the L1 image when the recipe changed (cached under
/var/tmp/kvmdeck-lab/<recipe hash>), boots L1 once, installs kvmdeck from this checkout's wheel,
starts the OS-less guest L2, and stops everything by PID at the end. With CI=true a lab that
cannot be built or booted FAILS the run; elsewhere the suite skips and says why.
Run it on its own: ``.venv/bin/pytest tests/lab -m lab`` (``make test`` does, last).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.labctl import Lab, LabError, build_wheel, build_wheelhouse
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


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true and the USB lab is unavailable: {reason}", pytrace=False)
    pytest.skip(f"USB lab unavailable: {reason}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    lab_items = [i for i in items if Path(str(i.fspath)).is_relative_to(Path(__file__).parent)]
    for n, item in enumerate(lab_items):
        item.add_marker(pytest.mark.lab)
        # pytest-timeout counts fixture setup: the first test carries the lab's build and boot
        item.add_marker(pytest.mark.timeout(SETUP_TIMEOUT if n == 0 else TEST_TIMEOUT))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A booted L1 with kvmdeck installed and L2 running (see lab/README.md)."""
    if os.geteuid() != 0:
        unavailable("needs root (mmdebstrap --mode=root, QEMU as root); run as root")
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        unavailable(
            f"missing host packages: apt-get install {' '.join(missing)} (make sysdeps-test)"
        )
    lab = Lab(log=lambda msg: print(f"[lab] {msg}", file=sys.stderr, flush=True))
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
        print(
            f"[lab] timings: { {k: round(v, 1) for k, v in lab.timings.items()} }", file=sys.stderr
        )
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


@pytest.fixture()
def clean(lab: Lab) -> Iterator[Lab]:
    """Per test: nothing plugged, L2 running with no hostdevs, no rules (kvmdeck may stay up)."""
    yield lab
    try:
        lab.detach_all_hostdevs("L2")
        lab.unplug_all()
    finally:
        lab.ssh("rm -f /root/.config/kvmdeck/rules.toml")


@pytest.fixture()
def usb_screen(clean: Lab) -> Lab:
    """kvmdeck (-c qemu:///system) on its USB screen. Started once, kept across tests (a start
    under TCG takes tens of seconds); restarted when it is not running."""
    ui.ensure_usb_screen(clean)
    return clean
