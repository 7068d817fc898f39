"""The real test bed: libvirtd, transient TCG guests, one persistent guest.

Shared by the pytest fixtures, ``make screenshots`` and ``bench/``. Nothing here is a fake.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import libvirt

from testbed.wait import wait_for as wait_for  # bed.wait_for: the one blocking wait
from tui.adapters.libvirt.connection import silence_libvirt_errors

SYSTEM_URI = "qemu:///system"
IMAGE_DIR = Path("/var/lib/libvirt/images/kvmdeck-test")  # 0755: QEMU runs as libvirt-qemu
PREFIX = "kvmdeck-t-"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Missing(Exception):
    """A system component the test needs is not there. Names the Debian package."""

    def __init__(self, what: str, package: str) -> None:
        super().__init__(f"{what} is missing: apt-get install {package}")
        self.package = package


def require_cmd(cmd: str, package: str) -> str:
    path = shutil.which(cmd) or (f"/usr/sbin/{cmd}" if Path(f"/usr/sbin/{cmd}").exists() else None)
    if not path:
        raise Missing(f"'{cmd}'", package)
    return path


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


def ensure_libvirtd(deadline_s: float = 90.0) -> tuple[libvirt.virConnect, bool]:
    """Return an open qemu:///system connection, starting virtlogd/libvirtd if needed.

    The second value says whether *we* started libvirtd (only then may a test restart it).
    """
    silence_libvirt_errors()
    require_cmd("libvirtd", "libvirt-daemon-system")
    require_cmd("qemu-system-x86_64", "qemu-system-x86")
    started = False
    if not _running("virtlogd"):
        subprocess.run([require_cmd("virtlogd", "libvirt-daemon-system"), "-d"], check=True)
    if not _running("libvirtd"):
        subprocess.run([require_cmd("libvirtd", "libvirt-daemon-system"), "-d"], check=True)
        started = True
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        try:
            return libvirt.open(SYSTEM_URI), started
        except libvirt.libvirtError as exc:
            last = str(exc)
            time.sleep(0.3)
    raise RuntimeError(f"libvirtd did not answer on {SYSTEM_URI} within {deadline_s} s: {last}")


def guest_xml(
    name: str,
    disk: Path,
    mem_mib: int = 96,
    vcpus: int = 1,
    password: str | None = None,
    domain_type: str = "qemu",
    extra_devices: str = "",
) -> str:
    passwd = f" passwd='{password}'" if password else ""
    return f"""<domain type='{domain_type}'>
  <name>{name}</name>
  <memory unit='MiB'>{mem_mib}</memory>
  <currentMemory unit='MiB'>{mem_mib}</currentMemory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'><model type='virtio'/></interface>
    <controller type='usb' model='qemu-xhci'/>
    <graphics type='spice' autoport='yes' listen='127.0.0.1'{passwd}>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video><model type='qxl'/></video>
    <memballoon model='virtio'><stats period='1'/></memballoon>
{extra_devices}  </devices>
</domain>"""


def make_disk(name: str) -> Path:
    require_cmd("qemu-img", "qemu-utils")
    IMAGE_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(IMAGE_DIR, 0o755)
    path = IMAGE_DIR / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    os.chmod(path, 0o644)
    return path


def sweep(conn: libvirt.virConnect, prefix: str = PREFIX) -> None:
    """Remove leftovers of crashed runs (only our own prefix; other guests are never touched)."""
    for dom in conn.listAllDomains(0):
        try:
            name = dom.name()
            if not name.startswith(prefix):
                continue
            pid_part = name[len(prefix) :].split("-", 1)[0]
            if (
                pid_part.isdigit()
                and Path(f"/proc/{pid_part}").exists()
                and int(pid_part) != os.getpid()
            ):
                continue  # another live run owns it
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefineFlags(0)
        except libvirt.libvirtError:
            continue
    if IMAGE_DIR.exists():
        for img in IMAGE_DIR.glob(f"{prefix}*.qcow2"):
            pid_part = img.name[len(prefix) :].split("-", 1)[0]
            if (
                pid_part.isdigit()
                and Path(f"/proc/{pid_part}").exists()
                and int(pid_part) != os.getpid()
            ):
                continue
            img.unlink(missing_ok=True)


@dataclass
class Guest:
    name: str
    uuid: str
    disk: Path
    persistent: bool
    password: str | None = None


def create_transient(
    conn: libvirt.virConnect, index: int, password: str | None = None, tag: str = ""
) -> Guest:
    name = f"{PREFIX}{os.getpid()}-{tag}{index}"
    disk = make_disk(name)
    dom = conn.createXML(guest_xml(name, disk, password=password), 0)
    return Guest(name, dom.UUIDString(), disk, False, password)


def define_persistent(conn: libvirt.virConnect, index: int = 0, tag: str = "p") -> Guest:
    name = f"{PREFIX}{os.getpid()}-{tag}{index}"
    disk = make_disk(name)
    dom = conn.defineXML(guest_xml(name, disk))
    return Guest(name, dom.UUIDString(), disk, True)


def remove(conn: libvirt.virConnect, guest: Guest) -> None:
    try:
        dom = conn.lookupByName(guest.name)
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefineFlags(0)
    except libvirt.libvirtError:
        pass
    guest.disk.unlink(missing_ok=True)


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """Stop a process we started, by its PID: TERM, then KILL after ``grace_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace_s)


# -- sshd on loopback (for qemu+ssh:// tests) -------------------------------------------------------------------------
@dataclass
class Sshd:
    port: int
    key: Path
    proc: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"qemu+ssh://root@127.0.0.1:{self.port}/system?keyfile={self.key}&no_verify=1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sshd(base: Path, deadline_s: float = 15.0) -> Sshd:
    sshd = require_cmd("sshd", "openssh-server")
    keygen = require_cmd("ssh-keygen", "openssh-client")
    require_cmd("ssh", "openssh-client")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("host_ed25519", "client_ed25519"):
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True
        )
    shutil.copy(base / "client_ed25519.pub", base / "authorized_keys")
    os.chmod(base / "authorized_keys", 0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    port = _free_port()
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\n"
        "UsePAM no\nAllowTcpForwarding yes\nAllowStreamLocalForwarding yes\n"
        f"PidFile {base / 'sshd.pid'}\n"
    )
    with open(base / "sshd.log", "wb") as log:
        proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(base / 'sshd.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Sshd(port, base / "client_ed25519", proc)
        except OSError:
            time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {deadline_s} s")


# How libvirt says the socket went away under the client (keepalive close, a cut): mostly
# before the request left; an EOF while reading may come after it, so only calls whose repeat
# is harmless or refused ("already exists") go through Reconnecting: test set-up and checks.
DROPPED = (
    "Cannot write data: Broken pipe",
    "client socket is closed",
    "Cannot recv data",
    "End of file while reading data",
)


class Reconnecting:
    """A long-lived qemu:///system connection that opens itself again when libvirtd dropped it.

    libvirtd closes a client that advertised keepalive (every connection opened once
    libvirtaio is registered, which the app does once per process) and then left its pings
    unanswered for 30 s (5 s x 5): between async tests nothing runs the event loop. Measured
    here: 45 s without the loop, then ``Cannot write data: Broken pipe``. A call that fails so
    is made once more on a new connection."""

    def __init__(self, conn: libvirt.virConnect, started_by_us: bool) -> None:
        self._conn = conn
        self.started_by_us = started_by_us

    @property
    def conn(self) -> libvirt.virConnect:
        return self._conn

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        def call(*args: object, **kwargs: object) -> object:
            try:
                return getattr(self._conn, name)(*args, **kwargs)
            except libvirt.libvirtError as exc:
                if not any(text in str(exc) for text in DROPPED):
                    raise
            self._conn = libvirt.open(SYSTEM_URI)
            return getattr(self._conn, name)(*args, **kwargs)

        return call
