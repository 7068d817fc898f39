"""A guest with a real OS under the host's libvirtd: the USB lab's Debian 12 image, booted once.

The lab (lab/) builds the image: ``/var/tmp/kvmdeck-lab/<recipe hash>/`` with ``vmlinuz``,
``initrd.img`` and a raw ext4 root (``baked.img``, else ``base.img``), root autologin on ttyS0,
and ``qemu-guest-agent`` (lab/image/packages.txt; udev starts it when the agent's virtio port
shows up, so only here, never in L1). It is booted here as an ordinary libvirt guest: direct
kernel boot, a qcow2 overlay in a 0755 directory (QEMU runs as libvirt-qemu), ``type='qemu'``
(TCG), a ``type='user'`` NIC (QEMU's user networking: DHCP 10.0.2.15, nothing reaches
outside), a pty serial console with a log file, and the guest agent channel
``org.qemu.guest_agent.0``.

Outside CI a missing piece skips (naming it); with CI=true it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import libvirt

from testbed import bed

REPO = Path(__file__).resolve().parents[2]
LAB_ROOT = Path(os.environ.get("LAB_ROOT", "/var/tmp/kvmdeck-lab"))
BOOT_DEADLINE_S = 420.0  # TCG on a loaded 2-CPU host: measured 60-230 s to the agent
MEM_MIB = 512
# Libvirt in the image is for the lab's L1; this guest needs none of it (saves TCG time).
MASKED = [
    *("libvirtd.service", "virtlogd.service", "libvirtd.socket", "libvirtd-ro.socket"),
    *("libvirtd-admin.socket", "virtlogd.socket", "virtlogd-admin.socket", "virtlockd.socket"),
    "virtlockd-admin.socket",
]


@dataclass
class OsGuest:
    name: str
    uuid: str
    dir: Path
    serial_log: Path
    ip: str  # the guest agent's IPv4 of eth0 (QEMU user networking: 10.0.2.15)
    boot_s: float  # start -> the agent answered with an address
    agent_call_s: float  # one interfaceAddresses(AGENT) call, once up
    timings: dict[str, float] = field(default_factory=dict)

    def serial_text(self) -> str:
        try:
            return self.serial_log.read_text(errors="replace")
        except OSError:
            return ""


def image_dir() -> Path:
    """The lab's image of the current recipe; built (lab/ensure-image.sh) when missing."""
    try:
        digest = subprocess.run(
            [str(REPO / "lab" / "recipe-hash")], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise bed.Missing(f"the lab's recipe hash ({exc})", "the lab (lab/recipe-hash)") from exc
    d = LAB_ROOT / digest
    if not (d / "vmlinuz").exists() or not _root_image(d):
        if os.geteuid() != 0:
            raise bed.Missing("the lab's Debian image (building it needs root)", "mmdebstrap")
        r = subprocess.run(
            [str(REPO / "lab" / "ensure-image.sh")], capture_output=True, text=True, timeout=1800
        )
        if r.returncode != 0 or not _root_image(d):
            tail = (r.stderr or r.stdout).strip()[-400:]
            raise bed.Missing(f"the lab's Debian image (ensure-image.sh: {tail})", "mmdebstrap")
    return d


def _root_image(d: Path) -> Path | None:
    for name in ("baked.img", "base.img"):
        if (d / name).exists():
            return d / name
    return None


def image_has_agent(d: Path) -> bool:
    listing = d / "packages.txt"
    try:
        return bool(re.search(r"^qemu-guest-agent ", listing.read_text(), re.M))
    except OSError:
        return False


def cmdline() -> str:
    return " ".join(
        [
            "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 apparmor=0 mitigations=off",
            *(f"systemd.mask={u}" for u in MASKED),
        ]
    )


def domain_xml(name: str, root: Path, d: Path) -> str:
    """The lab's image is read, never relabelled: libvirt would chown a backing file to
    libvirt-qemu and leave it so (it restores only what it writes), so the backing store is
    spelt out with ``relabel='no'`` (0644 in 0755 directories: QEMU can read it); kernel and
    initrd are copies in ``d``."""
    from xml.sax.saxutils import escape

    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{MEM_MIB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{d / "vmlinuz"}</kernel>
    <initrd>{d / "initrd.img"}</initrd>
    <cmdline>{escape(cmdline())}</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file='{d / "root.qcow2"}'/>
      <backingStore type='file'>
        <format type='raw'/>
        <source file='{root}'><seclabel model='dac' relabel='no'/></source>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
    <serial type='pty'>
      <log file='{d / "serial.log"}' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>"""


def agent_ipv4(dom: libvirt.virDomain) -> str | None:
    try:
        ifaces = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0)
    except libvirt.libvirtError:
        return None
    for name, info in (ifaces or {}).items():
        if name == "lo":
            continue
        for a in info.get("addrs") or ():
            if a.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4:
                return str(a["addr"])
    return None


def sweep(conn: libvirt.virConnect) -> None:
    """Leftovers of crashed runs: our OS guests whose pytest process is gone."""
    for dom in conn.listAllDomains(0):
        name = dom.name()
        m = re.fullmatch(rf"{re.escape(bed.PREFIX)}(\d+)-os", name)
        if not m or Path(f"/proc/{m.group(1)}").exists():
            continue
        remove(conn, name, bed.IMAGE_DIR / name)


def remove(conn: libvirt.virConnect, name: str, d: Path) -> None:
    try:
        dom = conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    except libvirt.libvirtError:
        pass
    shutil.rmtree(d, ignore_errors=True)


def boot(conn: libvirt.virConnect, deadline_s: float = BOOT_DEADLINE_S) -> OsGuest:
    """Define and start the guest; wait (with a deadline) until its agent reports an IPv4."""
    bed.require_cmd("qemu-img", "qemu-utils")
    img = image_dir()
    root = _root_image(img)
    assert root is not None
    if not image_has_agent(img):
        raise bed.Missing(
            f"qemu-guest-agent in the lab's image {img} (lab/image/packages.txt lists it: "
            "rebuild with lab/ensure-image.sh --rebuild)",
            "the lab's image with qemu-guest-agent",
        )
    sweep(conn)
    name = f"{bed.PREFIX}{os.getpid()}-os"
    d = bed.IMAGE_DIR / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    os.chmod(bed.IMAGE_DIR, 0o755)
    os.chmod(d, 0o755)
    overlay = d / "root.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(root), str(overlay)],
        check=True,
    )
    os.chmod(overlay, 0o644)
    for part in ("vmlinuz", "initrd.img"):
        shutil.copyfile(img / part, d / part)
        os.chmod(d / part, 0o644)
    dom = conn.defineXML(domain_xml(name, root, d))
    t0 = time.monotonic()
    try:
        dom.create()
        end = t0 + deadline_s
        ip = None
        while time.monotonic() < end and ip is None:
            ip = agent_ipv4(dom)
            if ip is None:
                time.sleep(2.0)
        if ip is None:
            tail = (d / "serial.log").read_text(errors="replace")[-1500:]
            raise AssertionError(
                f"the OS guest's agent reported no address within {deadline_s:g} s; "
                f"serial console:\n{tail}"
            )
        boot_s = time.monotonic() - t0
        t1 = time.monotonic()
        agent_ipv4(dom)
        call_s = time.monotonic() - t1
    except BaseException:
        remove(conn, name, d)
        raise
    return OsGuest(name, dom.UUIDString(), d, d / "serial.log", ip, boot_s, call_s)
