"""The USB doctor's probes of this machine, on real files and the real kernel log.

This machine has no USB bus (no /dev/bus/usb), so the device-node probe reads a directory
standing in for ``/`` (``root``): a real file with a real owner and mode under
``root/dev/bus/usb/BBB/DDD``, and real passwd/group/qemu.conf files beside it. The kernel log
comes from the one reader the virtualization doctor uses too (/dev/kmsg, else kern.log), read
as root and as the unprivileged user ``nobody`` to see it refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tui.adapters.local.qemuuser import qemu_conf, qemu_user
from tui.adapters.local.usbprobe import device_node, mac_status, probe_device, security_log
from tui.core.usb.doctor import usb_findings
from tui.model.display import Level
from tui.model.usb import UsbDevice

PASSWD = """root:x:0:0:root:/root:/bin/bash
libvirt-qemu:x:64055:107:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin
alice:x:1000:1000::/home/alice:/bin/bash
"""
GROUP = """root:x:0:
kvm:x:107:
libvirt-qemu:x:64055:libvirt-qemu
plugdev:x:46:alice,libvirt-qemu
"""
DEV = UsbDevice("/sys/x/usb1/1-2", "1-2", 1, 9, 0x0781, 0x5581, "SanDisk", "Ultra", speed="480")


def make_root(tmp: Path, conf: str | None = '#user = "libvirt-qemu"\n') -> Path:
    (tmp / "etc/libvirt").mkdir(parents=True)
    (tmp / "etc/passwd").write_text(PASSWD)
    (tmp / "etc/group").write_text(GROUP)
    if conf is not None:
        (tmp / "etc/libvirt/qemu.conf").write_text(conf)
    node = tmp / "dev/bus/usb/001/009"
    node.parent.mkdir(parents=True)
    node.write_bytes(b"")
    return tmp


def test_device_node_owner_and_mode(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    node = root / "dev/bus/usb/001/009"
    os.chmod(node, 0o664)
    found = device_node(1, 9, root)
    st = node.stat()
    assert (found.path, found.exists, found.mode) == ("/dev/bus/usb/001/009", True, 0o664)
    assert (found.uid, found.gid) == (st.st_uid, st.st_gid)
    if os.geteuid() == 0:  # chown needs root: then check the names come from root/etc
        os.chown(node, 0, 107)
        found = device_node(1, 9, root)
        assert found.shown == "/dev/bus/usb/001/009 root:kvm 0664"
    missing = device_node(1, 10, root)
    assert not missing.exists and missing.path == "/dev/bus/usb/001/010"


def test_qemu_user_default_and_configured(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    user = qemu_user(root)  # user = commented out: the build's default, libvirt-qemu here
    assert (user.user, user.source, user.uid) == ("libvirt-qemu", "libvirt's default", 64055)
    assert set(user.gids) == {107, 64055, 46} and user.dynamic_ownership
    (root / "etc/libvirt/qemu.conf").write_text(
        'user = "alice"   # run as alice\ngroup = "kvm"\ndynamic_ownership = 0\n'
    )
    assert qemu_conf(root) == {"user": "alice", "group": "kvm", "dynamic_ownership": "0"}
    user = qemu_user(root)
    assert (user.user, user.group, user.uid, user.source) == (
        "alice",
        "kvm",
        1000,
        "/etc/libvirt/qemu.conf",
    )
    # libvirt's virGetGroupList: the primary group (1000), the configured one, the memberships
    assert set(user.gids) == {1000, 107, 46} and not user.dynamic_ownership
    (root / "etc/libvirt/qemu.conf").write_text('user = "+0"\n')
    assert qemu_user(root).is_root


def test_qemu_conf_unreadable_is_said(tmp_path: Path) -> None:
    root = make_root(tmp_path, conf=None)
    user = qemu_user(root)
    assert "cannot read /etc/libvirt/qemu.conf" in user.error and user.user == "libvirt-qemu"


def test_permissions_end_to_end(tmp_path: Path) -> None:
    """Files → probe → finding: dynamic_ownership = 0 and a root-only node fails, with the fix."""
    root = make_root(tmp_path, conf="dynamic_ownership = 0\n")
    os.chmod(root / "dev/bus/usb/001/009", 0o600)
    probe = probe_device(DEV, root=root)
    f = {x.name: x for x in usb_findings(DEV, probe=probe)}["Device node"]
    assert f.status is Level.FAIL and "Permission denied" in f.detail and "udev rule" in f.fix
    os.chmod(root / "dev/bus/usb/001/009", 0o666)
    probe = probe_device(DEV, root=root)
    assert {x.name: x for x in usb_findings(DEV, probe=probe)}["Device node"].status is Level.OK


def test_this_machine_qemu_conf_is_read() -> None:
    if not Path("/etc/libvirt/qemu.conf").exists():
        pytest.skip("no /etc/libvirt/qemu.conf here")
    user = qemu_user()
    assert user.user and not user.error and user.source


def test_real_kernel_log() -> None:
    log = security_log()
    if os.geteuid() != 0 and not log.readable:
        assert log.error  # refused: said, not an empty list
        return
    assert log.readable and all(("DENIED" in d) or ("denied" in d) for d in log.denials)
    assert log.mac == mac_status()


NOBODY = """
from tui.adapters.local.usbprobe import security_log
log = security_log()
print(log.readable, log.error)
"""


def test_kernel_log_refused_to_an_unprivileged_user() -> None:
    """The reader as nobody, with kernel.dmesg_restrict = 1: it says it could not read."""
    restrict = Path("/proc/sys/kernel/dmesg_restrict")
    if os.geteuid() != 0 or not shutil.which("setpriv") or restrict.read_text().strip() != "1":
        pytest.skip("needs root, setpriv and kernel.dmesg_restrict = 1")
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c"]
    repo = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [*cmd, NOBODY], capture_output=True, text=True, timeout=30, cwd=repo, check=True
    ).stdout
    assert out.startswith("False ") and "/dev/kmsg: Operation not permitted" in out
    assert "dmesg_restrict = 1" in out


def test_no_kernel_log_is_said(tmp_path: Path) -> None:
    log = security_log(tmp_path)  # neither dev/kmsg nor var/log/kern.log under this root
    assert not log.readable and "/dev/kmsg" in log.error and "kern.log" in log.error
    f = {x.name: x for x in usb_findings(DEV, probe=probe_device(DEV, root=tmp_path))}
    assert "cannot read the kernel log" in f["AppArmor/SELinux"].detail
