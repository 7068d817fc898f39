"""A guest with a real OS under the host's libvirtd: the USB lab's Debian 12 image, booted once.

The lab (lab/, another engineer's) builds the image: ``/var/tmp/kvmdeck-lab/<recipe hash>/``
with ``vmlinuz``, ``initrd.img`` and a raw ext4 root (``baked.img``, else ``base.img``), root
autologin on ttyS0. It is booted here as an ordinary libvirt guest: direct kernel boot, a qcow2
overlay in a 0755 directory (QEMU runs as libvirt-qemu), ``type='qemu'`` (TCG), a
``type='user'`` NIC (QEMU's user networking: DHCP 10.0.2.15, nothing reaches outside), a pty
serial console with a log file, and the guest agent channel ``org.qemu.guest_agent.0``.

The lab's recipe (lab/image/packages.txt) has no ``qemu-guest-agent``. Until it does, the
agent is brought in without touching the lab: the Debian package of this host's apt sources
(``apt-get download qemu-guest-agent``, cached in :data:`CACHE`) is unpacked, its ``qemu-ga``
put on a small qcow2 disk (``mkfs.ext4 -d``, no mount), and started at boot by
``systemd.run=`` on the kernel command line (its libraries are in the image already). When
the image lists the package, none of that happens.

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

from tests.support import bed

REPO = Path(__file__).resolve().parents[2]
LAB_ROOT = Path(os.environ.get("LAB_ROOT", "/var/tmp/kvmdeck-lab"))
CACHE = Path("/var/tmp/kvmdeck-osguest")  # the agent package and its disk, per version
BOOT_DEADLINE_S = 420.0  # TCG on a loaded 2-CPU host: measured 60-230 s to the agent
MEM_MIB = 512
GA_PORT = "/dev/virtio-ports/org.qemu.guest_agent.0"
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


def agent_disk() -> Path:
    """A qcow2 disk holding ``qemu-ga`` from this host's apt sources (cached)."""
    bed.require_cmd("apt-get", "apt")
    bed.require_cmd("dpkg-deb", "dpkg")
    bed.require_cmd("mkfs.ext4", "e2fsprogs")
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)
    disk = CACHE / "qemu-ga.qcow2"
    if disk.exists():
        return disk
    work = CACHE / f"build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        r = subprocess.run(
            ["apt-get", "download", "qemu-guest-agent"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        debs = list(work.glob("qemu-guest-agent_*.deb"))
        if r.returncode != 0 or not debs:
            raise bed.Missing(
                f"the qemu-guest-agent package (apt-get download: {r.stderr.strip()[-200:]})",
                "qemu-guest-agent (reachable apt sources)",
            )
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(work / "x")], check=True)
        (work / "fs").mkdir()
        shutil.copy2(work / "x" / "usr" / "sbin" / "qemu-ga", work / "fs" / "qemu-ga")
        raw = work / "ga.raw"
        with open(raw, "wb") as f:
            f.truncate(8 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-d", str(work / "fs"), str(raw)], check=True)
        tmp = CACHE / f"qemu-ga.qcow2.{os.getpid()}"
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(tmp)], check=True)
        os.chmod(tmp, 0o644)
        tmp.rename(disk)  # atomic: a concurrent run sees a whole file or none
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return disk


def cmdline(inject_agent: bool) -> str:
    parts = [
        "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 apparmor=0 mitigations=off",
        *(f"systemd.mask={u}" for u in MASKED),
    ]
    if inject_agent:
        # kernel-command-line.service runs qemu-ga from the second disk, again if it ends;
        # multi-user.target stays the goal (systemd.run alone would replace it).
        run = (
            "/bin/sh -c 'mkdir -p /run/ga; mount -o ro /dev/vdb /run/ga; "
            f"while :; do [ -e {GA_PORT} ] && /run/ga/qemu-ga; sleep 1; done'"
        )
        parts += [
            "systemd.unit=multi-user.target systemd.wants=kernel-command-line.service",
            f'systemd.run="{run}"',
            "systemd.run_success_action=none systemd.run_failure_action=none",
        ]
    return " ".join(parts)


def domain_xml(name: str, root: Path, d: Path, agent: Path | None) -> str:
    """The lab's image is read, never relabelled: libvirt would chown a backing file to
    libvirt-qemu and leave it so (it restores only what it writes), so the backing store is
    spelt out with ``relabel='no'`` (0644 in 0755 directories: QEMU can read it); kernel and
    initrd are copies in ``d``."""
    from xml.sax.saxutils import escape

    tools = ""
    if agent is not None:
        tools = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{d / "agent.qcow2"}'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
"""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{MEM_MIB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{d / "vmlinuz"}</kernel>
    <initrd>{d / "initrd.img"}</initrd>
    <cmdline>{escape(cmdline(agent is not None))}</cmdline>
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
{tools}    <interface type='user'><model type='virtio'/></interface>
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
    agent = None if image_has_agent(img) else agent_disk()
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
    if agent is not None:
        shutil.copy2(agent, d / "agent.qcow2")
        os.chmod(d / "agent.qcow2", 0o644)
    dom = conn.defineXML(domain_xml(name, root, d, agent))
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
