"""The USB lab from Python: build/boot/stop L1, plug and unplug USB devices, drive kvmdeck in L1.

Stdlib only. Used by ``tests/lab`` (pytest) and ``bench/lab_usb.py``; also a small CLI::

    python3 -m lab.labctl up            # ensure the image, boot L1, install kvmdeck, leave it up
    python3 -m lab.labctl install       # install this checkout's kvmdeck again (after a change)
    python3 -m lab.labctl down          # stop it
    python3 -m lab.labctl ssh 'lsusb'   # a command in L1

A session::

    lab = Lab()                       # picks a free ssh port; images under /var/tmp/kvmdeck-lab
    lab.ensure_image()                # build + bake when the recipe changed (flock-safe)
    lab.boot()                        # throw-away overlay; QEMU's PID in lab.pid
    lab.install_kvmdeck()             # wheel + wheelhouse from the host, venv in L1
    dev = lab.plug_storage("stick1")  # waits until L1's sysfs has it; returns a UsbDev
    lab.kvmdeck_start(); lab.tmux_keys("u"); lab.wait_screen("QEMU")
    lab.unplug("stick1"); lab.stop()

Every wait has a deadline and raises :class:`LabTimeout` naming what it waited for; nothing here
asserts a duration.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAB_ROOT = Path(os.environ.get("LAB_ROOT", "/var/tmp/kvmdeck-lab"))
VENV = "/opt/kvmdeck"  # kvmdeck's venv inside L1
KVMDECK = f"{VENV}/bin/kvmdeck"
TMUX = "tmux -u -L lab"  # a private tmux server in L1, no user config
T = TypeVar("T")


class LabError(RuntimeError):
    """The lab could not do what was asked (build, boot, a command in L1)."""


class LabTimeout(LabError):
    """A wait reached its deadline."""


def wait_for(
    fn: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.2,
    last: Callable[[], str] | None = None,
) -> T:
    """Call ``fn`` until it returns something truthy, or raise :class:`LabTimeout` at the
    deadline (``last()`` adds what was seen last to the message)."""
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= end:
            seen = f"\nlast seen:\n{last()}" if last else ""
            raise LabTimeout(f"waited {timeout:g} s for {what}{seen}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- QMP --------------------------------------------------------------------------------------
class QMP:
    """A QMP connection to L1's QEMU (one command at a time; events are kept)."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb", buffering=0)
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()

    def _read(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise LabError("QMP connection closed")
        return dict(json.loads(line))

    def cmd(self, execute: str, **args: Any) -> Any:
        msg: dict[str, Any] = {"execute": execute}
        if args:
            msg["arguments"] = args
        with self.lock:
            self.file.write(json.dumps(msg).encode() + b"\r\n")
            while True:
                reply = self._read()
                if "event" in reply:
                    self.events.append(reply)
                    continue
                if "error" in reply:
                    raise LabError(f"QMP {execute} {args}: {reply['error']}")
                return reply.get("return")

    def hmp(self, command: str) -> str:
        return str(self.cmd("human-monitor-command", **{"command-line": command}))

    def wait_event(self, name: str, device: str | None = None, timeout: float = 30.0) -> dict:
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                for ev in self.events:
                    if ev["event"] == name and (
                        device is None or ev.get("data", {}).get("device") == device
                    ):
                        self.events.remove(ev)
                        return ev
                left = end - time.monotonic()
                if left <= 0:
                    raise LabTimeout(f"waited {timeout:g} s for QMP event {name} {device or ''}")
                self.sock.settimeout(left)
                try:
                    reply = self._read()
                except TimeoutError:
                    continue
                finally:
                    self.sock.settimeout(30.0)
                if "event" in reply:
                    self.events.append(reply)


# -- USB devices as L1 sees them --------------------------------------------------------------
@dataclass(frozen=True)
class UsbDev:
    """One device in L1's sysfs (``l1/usbdevs.sh``)."""

    port: str  # "1-3.1"
    busnum: int
    devnum: int
    vendor: str  # "0627"
    product: str
    speed: str  # Mbit/s as sysfs says ("480", "5000")
    serial: str
    driver: str  # driver of interface 0 ("usb-storage", "usbhid"; "" when unbound)
    name: str

    @property
    def address(self) -> str:
        return f"{self.busnum:03d}:{self.devnum:03d}"

    @property
    def ids(self) -> str:
        return f"{self.vendor}:{self.product}"

    @property
    def is_root_hub(self) -> bool:
        return self.vendor == "1d6b"


def parse_usbdevs(text: str) -> list[UsbDev]:
    out = []
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) < 9 or not (f[1].isdigit() and f[2].isdigit()):
            continue  # a device going away while sysfs was read
        out.append(UsbDev(f[0], int(f[1]), int(f[2]), f[3], f[4], f[5], f[6], f[7], f[8]))
    return out


@dataclass(frozen=True)
class Hostdev:
    """A USB hostdev of a guest's XML (ids as hex strings, bus/device as ints or None)."""

    vendor: str
    product: str
    bus: int | None
    device: int | None
    alias: str


def parse_hostdevs(xml: str) -> list[Hostdev]:
    out = []
    for hd in ET.fromstring(xml).iterfind("./devices/hostdev[@type='usb']"):
        src = hd.find("source")
        if src is None:
            continue
        v, p, a = src.find("vendor"), src.find("product"), src.find("address")
        alias = hd.find("alias")
        out.append(
            Hostdev(
                f"{int(v.get('id', '0'), 16):04x}" if v is not None else "",
                f"{int(p.get('id', '0'), 16):04x}" if p is not None else "",
                int(a.get("bus", "0")) if a is not None else None,
                int(a.get("device", "0")) if a is not None else None,
                alias.get("name", "") if alias is not None else "",
            )
        )
    return out


# -- a command in L1 whose output lines are stamped on the host's clock ------------------------
class LineStream:
    """``ssh L1 CMD`` kept running; each output line is stamped with the host's
    ``time.monotonic()`` on arrival (the ssh hop adds ~30 ms, about the same every time)."""

    def __init__(self, argv: list[str], remote_pattern: str, lab: Lab) -> None:
        import queue

        self.lab = lab
        self.remote_pattern = remote_pattern
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = 30) -> tuple[float, str]:
        """The first line (from now on) matching ``pattern``: (host arrival time, line)."""
        import queue

        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise LabTimeout(f"waited {timeout:g} s for a line matching {pattern!r}")
            try:
                stamp, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if rx.search(line):
                return stamp, line

    def drain(self) -> None:
        import queue

        with contextlib.suppress(queue.Empty):
            while True:
                self.lines.get_nowait()

    def close(self, kill: bool = True) -> None:
        """End the command: ``pkill -f`` of its script in L1 (``kill``), then EOF on its stdin."""
        if kill:
            with contextlib.suppress(LabError):
                self.lab.ssh_run(f"pkill -f {shlex.quote(self.remote_pattern)}; true", timeout=30)
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the lab ----------------------------------------------------------------------------------
class Lab:
    """One L1 VM. ``port`` is the host's loopback port forwarded to L1's sshd."""

    def __init__(self, port: int | None = None, log: Callable[[str], None] | None = None) -> None:
        self.port = port or free_port()
        self.log = log or (lambda msg: print(f"[lab] {msg}", file=sys.stderr, flush=True))
        self.hash = self._script_out("recipe-hash")
        self.image_dir = LAB_ROOT / self.hash
        self.run_dir = LAB_ROOT / f"run-{self.port}"
        self.key = self.image_dir / "id_ed25519"
        self.ctl = self.run_dir / "ssh-ctl"
        self.pid: int | None = None
        self._qmp: QMP | None = None
        self._plugged: dict[str, str] = {}  # QEMU id -> serial
        self._root_ports: int | None = None
        self._probe: LineStream | None = None
        self._probe_lock = threading.Lock()
        self._probe_seq = 0
        self.timings: dict[str, float] = {}
        self.session = "kd"

    @classmethod
    def from_state(cls, log: Callable[[str], None] | None = None) -> Lab:
        """The L1 that ``python3 -m lab.labctl up`` left running (tests reuse it with
        ``KVMDECK_LAB_REUSE=1``)."""
        try:
            state = json.loads(STATE.read_text())
        except (OSError, ValueError) as exc:
            raise LabError(f"no lab from 'python3 -m lab.labctl up' ({STATE}: {exc})") from exc
        lab = cls(port=int(state["port"]), log=log)
        lab.pid = int(state["pid"])
        if state.get("hash", lab.hash) != lab.hash:  # booted from an image of an older recipe
            lab.hash = state["hash"]
            lab.image_dir = LAB_ROOT / lab.hash
            lab.key = lab.image_dir / "id_ed25519"
        if not lab.running:
            raise LabError(f"the lab of {STATE} is gone (pid {lab.pid})")
        return lab

    # -- environment of the shell scripts ---------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LAB_ROOT": str(LAB_ROOT),
            "LAB_HASH": self.hash,
            "LAB_SSH_PORT": str(self.port),
            "LAB_RUN": str(self.run_dir),
        }

    @staticmethod
    def _script_out(name: str) -> str:
        return subprocess.run(
            [str(HERE / name)], check=True, capture_output=True, text=True
        ).stdout.strip()

    def _script(self, *argv: str, timeout: float = 900) -> str:
        """Run a lab script, streaming its output to the log; raise LabError on failure."""
        proc = subprocess.Popen(
            [str(HERE / argv[0]), *argv[1:]],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        assert proc.stdout is not None
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line.rstrip())
                self.log(f"{argv[0]}: {line.rstrip()}")
            rc = proc.wait()
        finally:
            timer.cancel()
        if rc != 0:
            tail = "\n".join(lines[-25:])
            raise LabError(f"{' '.join(argv)} failed (exit {rc}):\n{tail}")
        return "\n".join(lines)

    # -- image, boot, stop ----------------------------------------------------------------
    @property
    def image_ready(self) -> bool:
        return (self.image_dir / "baked.img").is_file()

    def ensure_image(self, rebuild: bool = False) -> float:
        """Build and bake the image of the current recipe when missing; returns seconds."""
        t0 = time.monotonic()
        self._script("ensure-image.sh", *(["--rebuild"] if rebuild else []), timeout=1500)
        self.timings["image"] = time.monotonic() - t0
        return self.timings["image"]

    def boot(self) -> float:
        """Boot L1 on a throw-away overlay and wait for ssh; push the L1 helpers."""
        t0 = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._script("run-l1.sh", timeout=400)
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.pid = int((self.run_dir / "qemu.pid").read_text().strip())
        self.timings["boot"] = time.monotonic() - t0
        self.push_helpers()
        return self.timings["boot"]

    def push_helpers(self) -> None:
        """Copy ``lab/l1/*`` to /root/lab in L1 (done at every boot)."""
        self.ssh("mkdir -p /root/lab")
        self.scp_to([str(p) for p in sorted((HERE / "l1").iterdir())], "/root/lab/")
        self.ssh("chmod +x /root/lab/*.sh /root/lab/*.py")

    @property
    def running(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _ssh_master_pid(self) -> int | None:
        out = subprocess.run(
            ["ssh", "-O", "check", "-o", f"ControlPath={self.ctl}", "-p", str(self.port), "x"],
            capture_output=True,
            text=True,
        )
        m = re.search(r"pid=(\d+)", out.stderr + out.stdout)
        return int(m.group(1)) if m else None

    def stop(self) -> float:
        """Stop L1 (guests destroyed, poweroff, then QMP quit, then SIGKILL by PID) and the ssh
        control master (by its PID)."""
        t0 = time.monotonic()
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        self.close_probe()
        master = self._ssh_master_pid()
        try:
            self._script("stop-l1.sh", timeout=120)
        finally:
            if self.pid is not None and self.running:
                os.kill(self.pid, 9)
            if master is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(master, 15)
            self.pid = None
            import shutil

            shutil.rmtree(self.run_dir, ignore_errors=True)  # overlay, sockets, stick images
        self.timings["stop"] = time.monotonic() - t0
        return self.timings["stop"]

    # -- commands in L1 ---------------------------------------------------------------------
    @property
    def ssh_opts(self) -> list[str]:
        """Options shared by ssh and scp (the control master makes each call cheap)."""
        opts = {
            "StrictHostKeyChecking": "no",
            "UserKnownHostsFile": "/dev/null",
            "LogLevel": "ERROR",
            "ConnectTimeout": "10",
            "BatchMode": "yes",
            "ServerAliveInterval": "5",
            "ControlMaster": "auto",
            "ControlPath": str(self.ctl),
            "ControlPersist": "900",
        }
        return ["-i", str(self.key), *(x for k, v in opts.items() for x in ("-o", f"{k}={v}"))]

    @property
    def ssh_argv(self) -> list[str]:
        return ["ssh", *self.ssh_opts, "-p", str(self.port), "root@127.0.0.1"]

    def ssh_run(
        self, cmd: str, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [*self.ssh_argv, cmd],
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabTimeout(f"ssh command ran over {timeout:g} s: {cmd}") from exc

    def ssh(self, cmd: str, timeout: float = 120, input: str | None = None) -> str:
        """Run ``cmd`` in L1 (as root, through the ssh control master); return stdout, raise
        :class:`LabError` with stderr when it fails."""
        res = self.ssh_run(cmd, timeout=timeout, input=input)
        if res.returncode != 0:
            raise LabError(f"in L1: {cmd}\nexit {res.returncode}\n{res.stderr}{res.stdout[-2000:]}")
        return res.stdout

    def scp_to(self, sources: Iterable[str], dest: str) -> None:
        argv = ["scp", "-q", *self.ssh_opts, "-P", str(self.port), *sources]
        subprocess.run([*argv, f"root@127.0.0.1:{dest}"], check=True, timeout=300)

    def scp_from(self, source: str, dest: str) -> None:
        argv = ["scp", "-q", *self.ssh_opts, "-P", str(self.port)]
        subprocess.run([*argv, f"root@127.0.0.1:{source}", dest], check=True, timeout=300)

    def stream(self, script: str, *args: str, ready: str | None = "READY") -> LineStream:
        """Start ``/root/lab/SCRIPT ARGS`` in L1 with its output streamed to the host (see
        :class:`LineStream`); waits for its ``ready`` line."""
        remote = f"/root/lab/{script}"
        cmd = " ".join(shlex.quote(a) for a in ("python3", "-u", remote, *args))
        st = LineStream([*self.ssh_argv, cmd], remote, self)
        if ready:
            st.expect(ready, timeout=60)
        return st

    def probe_call(self, op: str, *args: Any, timeout: float = 60) -> Any:
        """Ask ``l1/probe.py`` (one process in L1, started on first use): cheaper than a new
        ssh command and lighter on L1 (see there for the operations)."""
        with self._probe_lock:
            if self._probe is None or self._probe.proc.poll() is not None:
                self._probe = self.stream("probe.py")
            self._probe_seq += 1
            ident = f"q{self._probe_seq}"
            self._probe.send(f"{ident} {op} {json.dumps(args)}")
            _, line = self._probe.expect(rf"^{ident} ", timeout)
        reply = line.split(" ", 1)[1]
        if reply.startswith("!"):
            raise LabError(f"in L1 (probe {op} {args}): {reply[1:]}")
        return json.loads(reply)

    def close_probe(self) -> None:
        if self._probe is not None:
            self._probe.close(kill=False)  # EOF: it ends
            self._probe = None

    def sh(self, cmd: str | list[str], timeout: float = 120) -> str:
        """Like :meth:`ssh` (stdout; LabError when it fails), through the probe; ``cmd`` a
        shell command, or a program and its arguments (no shell)."""
        res = self.probe_call("sh", cmd, timeout=timeout)
        if res["rc"] != 0:
            raise LabError(f"in L1: {cmd}\nexit {res['rc']}\n{res['err']}{res['out'][-2000:]}")
        return str(res["out"])

    def write_file(self, path: str, text: str) -> None:
        self.ssh(
            f"mkdir -p {shlex.quote(os.path.dirname(path))} && cat > {shlex.quote(path)}",
            input=text,
        )

    # -- QMP: plug and unplug -----------------------------------------------------------------
    @property
    def qmp(self) -> QMP:
        if self._qmp is None:
            self._qmp = QMP(self.run_dir / "qmp.sock")
        return self._qmp

    def info_usb(self) -> str:
        """QEMU's ``info usb`` of L1 (what is on L1's xhci bus, with QEMU ids)."""
        return self.qmp.hmp("info usb")

    # QEMU's own choice of port for plug(port=QEMU_PICKS): the first free one, and when only one
    # is left QEMU inserts a usb-hub (0409:55aa) there first. The hub is never removed.
    QEMU_PICKS = "qemu"

    def root_ports(self) -> int:
        """How many root ports L1's xhci has (``p2``/``p3`` of the device, lab.env)."""
        if self._root_ports is None:
            path = "/machine/peripheral/xhci"
            self._root_ports = max(
                int(self.qmp.cmd("qom-get", path=path, property=p)) for p in ("p2", "p3")
            )
        return self._root_ports

    def qemu_ports(self) -> dict[str, str]:
        """What sits on L1's xhci, from QEMU's ``info usb``: {QEMU port path ("3", "4.1"):
        QEMU device id ("" for a device QEMU added itself, i.e. its hub)}."""
        out = {}
        for line in self.info_usb().splitlines():
            m = re.search(r"Port (\S+?),.*?(?:, ID: (\S+))?\s*$", line)
            if m:
                out[m.group(1)] = m.group(2) or ""
        return out

    def qemu_port(self, dev_id: str) -> str | None:
        """The QEMU port path of a plugged device ("3"; the sysfs port is "1-3" or "2-3")."""
        return next((p for p, i in self.qemu_ports().items() if i == dev_id), None)

    def free_root_port(self) -> str:
        """The lowest root port of L1's xhci with nothing in it (a hub QEMU inserted counts)."""
        used = {p.split(".")[0] for p in self.qemu_ports()}
        free = [n for n in range(1, self.root_ports() + 1) if str(n) not in used]
        if not free:
            raise LabError(f"no free root port on L1's xhci: {sorted(used)}")
        return str(free[0])

    def plug(
        self,
        dev_id: str,
        driver: str,
        wait: bool = True,
        timeout: float = 90,
        port: str | None = None,
        bound: bool | str = True,
        **props: Any,
    ) -> UsbDev | None:
        """``device_add`` a USB device on L1's xhci bus; its serial is ``dev_id`` upper-cased
        (how the lab finds it in L1). Returns L1's view once sysfs has it (``wait``) with a
        driver bound to interface 0 (``bound``, see :meth:`wait_device`; pass False when a
        rule may hand the device to L2 first: then L1's driver lets go at once).

        ``port``: a root port ("3"; sysfs "1-3" or "2-3"), by default the lowest free one, so
        a replug goes back into the same socket and plugging never runs out of ports;
        :attr:`QEMU_PICKS` leaves it to QEMU (and its hub)."""
        serial = props.pop("serial", dev_id.upper())
        if port is None:
            port = self.free_root_port()
        if port != self.QEMU_PICKS:
            props["port"] = port
        self.qmp.cmd("device_add", driver=driver, id=dev_id, bus="xhci.0", serial=serial, **props)
        self._plugged[dev_id] = serial
        return self.wait_device(serial, timeout=timeout, driver=bound) if wait else None

    def plug_storage(
        self,
        dev_id: str,
        size_mb: int = 8,
        wait: bool = True,
        timeout: float = 90,
        port: str | None = None,
        bound: bool | str = True,
        **props: Any,
    ) -> UsbDev | None:
        """A USB stick (usb-storage over a sparse raw file in the run dir)."""
        image = self.run_dir / f"{dev_id}.img"
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        self.qmp.cmd(
            "blockdev-add",
            **{
                "driver": "raw",
                "node-name": f"{dev_id}-blk",
                "file": {"driver": "file", "filename": str(image)},
            },
        )
        return self.plug(
            dev_id, "usb-storage", wait, timeout, port, bound, drive=f"{dev_id}-blk", **props
        )

    def plug_serial(
        self,
        dev_id: str,
        wait: bool = True,
        timeout: float = 90,
        port: str | None = None,
        bound: bool | str = True,
    ) -> UsbDev | None:
        """An FTDI serial adapter (0403:6001) on a ringbuf chardev (a null one never opens)."""
        self.qmp.cmd(
            "chardev-add", id=f"{dev_id}-chr", backend={"type": "ringbuf", "data": {"size": 4096}}
        )
        return self.plug(dev_id, "usb-serial", wait, timeout, port, bound, chardev=f"{dev_id}-chr")

    def unplug(
        self, dev_id: str, wait: bool = True, timeout: float = 60, deleted: bool = False
    ) -> None:
        """``device_del`` (unless ``deleted``: sent already); wait for QEMU's DEVICE_DELETED
        (and L1's sysfs to lose it: ``wait``)."""
        if not deleted:
            self.qmp.cmd("device_del", id=dev_id)
        self.qmp.wait_event("DEVICE_DELETED", dev_id, timeout=timeout)
        for cmd, args in (
            ("blockdev-del", {"node-name": f"{dev_id}-blk"}),
            ("chardev-remove", {"id": f"{dev_id}-chr"}),
        ):
            with contextlib.suppress(LabError):
                self.qmp.cmd(cmd, **args)
        with contextlib.suppress(OSError):
            (self.run_dir / f"{dev_id}.img").unlink()
        serial = self._plugged.pop(dev_id, None)
        if wait and serial:
            wait_for(
                lambda: self.find_device(serial) is None,
                timeout,
                f"{dev_id} to leave L1's sysfs",
            )

    def unplug_all(self, leftovers: bool = False, timeout: float = 60) -> None:
        """Unplug what this Lab plugged, all at once; ``leftovers``: also any other device with
        a QEMU id on L1's xhci (a run that was interrupted; QEMU's hub has none and stays)."""
        ids = list(self._plugged)
        if leftovers:
            ids += [i for i in self.qemu_ports().values() if i and i not in ids]
        for dev_id in ids:
            self.qmp.cmd("device_del", id=dev_id)
        serials = [s for s in (self._plugged.get(i) for i in ids) if s]
        for dev_id in ids:
            self.unplug(dev_id, wait=False, timeout=timeout, deleted=True)
        wait_for(
            lambda: not {d.serial for d in self.usb_devices()} & set(serials),
            timeout,
            f"{', '.join(ids)} to leave L1's sysfs",
        )

    # -- L1's view ----------------------------------------------------------------------------
    def usb_devices(self) -> list[UsbDev]:
        return parse_usbdevs(self.probe_call("usbdevs"))  # what l1/usbdevs.sh prints

    def find_device(self, serial: str) -> UsbDev | None:
        return next((d for d in self.usb_devices() if d.serial == serial), None)

    def wait_device(self, serial: str, timeout: float = 30, driver: bool | str = True) -> UsbDev:
        """Wait until L1 has the device with this serial (and, by default, a bound driver on
        interface 0; a string: that driver; False: any state)."""

        def ready() -> UsbDev | None:
            dev = self.find_device(serial)
            if dev is None:
                return None
            if driver is True and not dev.driver:
                return None
            if isinstance(driver, str) and dev.driver != driver:
                return None
            return dev

        return wait_for(ready, timeout, f"USB device {serial} in L1 (driver {driver})", 0.3)

    def lsusb(self) -> str:
        return self.ssh("lsusb")

    # -- libvirt in L1 ------------------------------------------------------------------------
    def virsh(self, args: str, timeout: float = 120) -> str:
        return self.ssh(f"virsh -c qemu:///system {args}", timeout=timeout)

    def dumpxml(self, dom: str = "L2", inactive: bool = False) -> str:
        """``virsh dumpxml [--inactive]`` (through the probe's libvirt connection)."""
        return str(self.probe_call("xml", dom, inactive))

    def hostdevs(self, dom: str = "L2", inactive: bool = False) -> list[Hostdev]:
        return parse_hostdevs(self.dumpxml(dom, inactive))

    def guest_info_usb(self, dom: str = "L2") -> str:
        """QEMU's ``info usb`` of a guest in L1 (its own view of the passed devices)."""
        return str(self.probe_call("hmp", dom, "info usb"))

    def start_guest(self, dom: str = "L2") -> None:
        if self.probe_call("state", dom) != "running":
            self.virsh(f"start {dom}")

    def guest_halted(self, dom: str = "L2") -> bool:
        """Is ``dom`` in its halt boot sector (halted at 0x7c00, interrupts off: idle), not in
        SeaBIOS looking for something to boot (half a CPU of L1 under TCG)?"""
        regs = str(self.probe_call("hmp", dom, "info registers"))
        m = re.search(r"EIP=([0-9a-f]+)", regs)
        return m is not None and 0x7C00 <= int(m.group(1), 16) < 0x7E00 and "HLT=1" in regs

    def detach_all_hostdevs(self, dom: str = "L2") -> None:
        """Live-detach every USB hostdev of ``dom`` (test cleanup)."""
        for hd in self.hostdevs(dom):
            addr = f"<address bus='{hd.bus}' device='{hd.device}'/>" if hd.bus is not None else ""
            xml = (
                "<hostdev mode='subsystem' type='usb' managed='yes'><source>"
                f"<vendor id='0x{hd.vendor}'/><product id='0x{hd.product}'/>{addr}"
                "</source></hostdev>"
            )
            with contextlib.suppress(LabError):
                self.probe_call("detach", dom, xml)  # virsh detach-device --live

    # -- kvmdeck in L1 ------------------------------------------------------------------------
    def install_kvmdeck(self, wheel: Path, wheelhouse: Path, warm_up: bool = False) -> float:
        """Install kvmdeck's wheel in a venv in L1 that sees Debian's python3-libvirt, -pyudev
        and -psutil (``--system-site-packages``), with its other dependencies from the host's
        wheelhouse (L1 has no network).

        The wheels are unpacked and byte-compiled on the host (:func:`stage_wheels`; pure
        wheels, CPython 3.11 on both sides) and L1 only unpacks two tar files into the venv:
        under TCG, an installer and compiling textual, rich and pygments in L1 cost minutes.
        kvmdeck goes in as with ``pip --no-deps``: libvirt-python is never looked for on PyPI,
        the wheelhouse is the whole rest. ``warm_up``: one ``kvmdeck --demo`` start as well.
        """
        t0 = time.monotonic()
        deps = stage_wheels(sorted(wheelhouse.glob("*.whl")), wheelhouse / "site-packages.tar")
        with tempfile.TemporaryDirectory() as tmp:
            own = stage_wheels([wheel], Path(tmp) / "kvmdeck.tar")
            self.ssh("rm -rf /root/wheels && mkdir -p /root/wheels")
            self.scp_to([str(deps), str(own)], "/root/wheels/")
        scripts = "".join(
            f"printf '%s\\n' '#!{VENV}/bin/python' 'import sys' 'from {mod} import {func}'"
            f" 'sys.exit({func}())' > {VENV}/bin/{name}; chmod 755 {VENV}/bin/{name}\n"
            for name, mod, func in console_scripts(wheel)
        )
        self.ssh(
            f"set -e; rm -rf {VENV}; python3 -m venv --without-pip --system-site-packages {VENV}\n"
            f"sp=$({VENV}/bin/python -c 'import sysconfig; print(sysconfig.get_path(\"purelib\"))')\n"
            f'for t in /root/wheels/*.tar; do tar -xf "$t" -C "$sp"; done\n'
            f"{scripts}{KVMDECK} --version",
            timeout=600,
        )
        self.timings["install"] = time.monotonic() - t0
        if warm_up:
            t1 = time.monotonic()
            self.kvmdeck_start("--demo", session="warmup")
            self.wait_screen("DEMO", timeout=300, session="warmup")
            self.kvmdeck_stop("warmup")
            self.timings["warm_up"] = time.monotonic() - t1
        return self.timings["install"]

    def kvmdeck_start(
        self,
        args: str = "",
        session: str | None = None,
        size: tuple[int, int] = (170, 44),
        env: dict[str, str] | None = None,
    ) -> None:
        """Start ``kvmdeck ARGS`` in a detached tmux session in L1 (private server ``-L lab``).
        The pane stays after kvmdeck ends (``remain-on-exit``), so a crash stays readable."""
        session = session or self.session
        envs = " ".join(
            f"{k}={shlex.quote(v)}"
            for k, v in {"LANG": "C.UTF-8", "TERM": "screen-256color", **(env or {})}.items()
        )
        cmd = f"env -u COLUMNS -u LINES {envs} {KVMDECK} {args}"
        self.ssh(
            f"{TMUX} kill-session -t {session} 2>/dev/null;"
            f" {TMUX} new-session -d -s {session} -x {size[0]} -y {size[1]} {shlex.quote(cmd)} &&"
            f" {TMUX} set-option -t {session} remain-on-exit on >/dev/null"
        )

    def kvmdeck_stop(self, session: str | None = None, key: str = "q", timeout: float = 30) -> None:
        """Quit kvmdeck with ``key`` (``q``: the TUI's own exit path; ``C-c`` for a headless
        command), then end the tmux session. ``q`` on another screen (USB, a picker) goes
        back first: the key is sent again, up to four times, until the pane is dead."""
        session = session or self.session
        end = time.monotonic() + timeout
        with contextlib.suppress(LabError):
            for _ in range(4):
                if not self.pane_alive(session):
                    break
                before = self.screen(session)
                self.tmux_keys(key, session=session)
                # dead, or another screen (then the next key): at most 8 s a key
                left = min(8.0, end - time.monotonic())
                with contextlib.suppress(LabTimeout):

                    def moved(was: str = before) -> bool:
                        return not self.pane_alive(session) or self.screen(session) != was

                    wait_for(
                        moved,
                        left,
                        "kvmdeck to quit or change screen",
                        0.3,
                    )
        self.ssh(f"{TMUX} kill-session -t {session} 2>/dev/null; true")

    def pane_alive(self, session: str | None = None) -> bool:
        session = session or self.session
        argv = [*TMUX.split(), "display-message", "-p", "-t", session, "#{pane_dead}"]
        out = self.probe_call("sh", argv)
        return str(out["out"]).strip() == "0"

    def tmux_keys(self, *keys: str, session: str | None = None, literal: bool = False) -> None:
        """``tmux send-keys``: key names as tmux spells them ("u", "Enter", "Escape", "Down")."""
        session = session or self.session
        flag = " -l" if literal else ""
        self.ssh(f"{TMUX} send-keys -t {session}{flag} " + " ".join(shlex.quote(k) for k in keys))

    def screen(self, session: str | None = None) -> str:
        """The pane's text now (``tmux capture-pane -p``)."""
        session = session or self.session
        return self.sh([*TMUX.split(), "capture-pane", "-p", "-t", session])

    def wait_screen(
        self,
        match: str | Callable[[str], bool],
        timeout: float = 30,
        session: str | None = None,
        interval: float = 0.5,
    ) -> str:
        """Wait until the screen holds ``match`` (a regex, or a predicate); return the screen.
        Every look is a tmux process in L1 (~0.3 s of one of its CPUs under TCG): looking
        back-to-back would slow down the kvmdeck it waits for."""
        seen = [""]

        def check() -> str | None:
            seen[0] = self.screen(session)
            ok = match(seen[0]) if callable(match) else re.search(match, seen[0])
            return seen[0] if ok else None

        what = match if isinstance(match, str) else getattr(match, "__name__", "a screen")
        return wait_for(check, timeout, f"{what!r} on kvmdeck's screen", interval, lambda: seen[0])

    def screen_row(self, text: str, session: str | None = None) -> str | None:
        """The screen line holding ``text`` (None when absent)."""
        return next((line for line in self.screen(session).splitlines() if text in line), None)


# -- host side: the wheel and the wheelhouse --------------------------------------------------
NOT_FROM_PYPI = {"libvirt-python", "pyudev", "psutil"}  # Debian's python3-* in L1


def build_wheel(python: str, out: Path) -> Path:
    """Build kvmdeck's wheel from this checkout (hatchling via ``pip wheel --no-deps``)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("kvmdeck-*.whl"):
        old.unlink()
    subprocess.run(
        [python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        timeout=300,
    )
    return next(out.glob("kvmdeck-*.whl"))


def wheel_requirements(wheel: Path) -> list[str]:
    """``Requires-Dist`` of the wheel, minus what L1 takes from Debian."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    reqs = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = line.split(":", 1)[1].strip()
        if ";" in req and "extra" in req.split(";", 1)[1]:
            continue
        name = re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0].lower().replace("_", "-")
        if name not in NOT_FROM_PYPI:
            reqs.append(req)
    return reqs


def build_wheelhouse(python: str, wheel: Path, root: Path = LAB_ROOT) -> Path:
    """``pip download`` the wheel's non-Debian dependencies (pure-Python wheels for CPython
    3.11, L1's Python) into a cache dir keyed by the requirements; write requirements.txt."""
    reqs = wheel_requirements(wheel)
    import hashlib

    key = hashlib.sha256("\n".join(sorted(reqs)).encode()).hexdigest()[:12]
    house = root / f"wheelhouse-{key}"
    done = house / "requirements.txt"
    if not done.exists():
        house.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "download",
                "-q",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--platform",
                "manylinux2014_x86_64",
                "--platform",
                "any",
                "-d",
                str(house),
                *reqs,
            ],
            check=True,
            timeout=600,
        )
        done.write_text("\n".join(reqs) + "\n")
    return house


def console_scripts(wheel: Path) -> list[tuple[str, str, str]]:
    """``[console_scripts]`` of a wheel: (name, module, function)."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        name = next((n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")), "")
        text = z.read(name).decode() if name else ""
    out, section = [], ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[console_scripts]" and "=" in line:
            script, target = (x.strip() for x in line.split("=", 1))
            mod, func = target.split(":", 1)
            out.append((script, mod, func))
    return out


def stage_wheels(wheels: list[Path], tar: Path) -> Path:
    """Unpack pure-Python wheels as they would lie in site-packages, byte-compile them when
    this Python is CPython 3.11 like L1's (same bytecode; unchecked-hash .pyc files, valid
    whatever the files' mtimes), and pack them into ``tar`` (kept: a cache for the
    wheelhouse, rebuilt when a wheel is newer)."""
    import compileall
    import py_compile
    import shutil
    import tarfile
    import zipfile

    if tar.exists() and all(w.stat().st_mtime <= tar.stat().st_mtime for w in wheels):
        return tar
    work = tar.with_name(f"{tar.name}.d{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        for w in wheels:
            with zipfile.ZipFile(w) as z:
                if any(".data/" in n for n in z.namelist()):
                    raise LabError(f"{w.name} has a .data directory: it needs an installer")
                z.extractall(work)
        if sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11):
            compileall.compile_dir(
                work,
                ddir=f"{VENV}/lib/python3.11/site-packages",
                quiet=1,
                workers=0,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        part = tar.with_name(f"{tar.name}.{os.getpid()}")
        with tarfile.open(part, "w") as t:
            for entry in sorted(work.iterdir()):
                t.add(entry, arcname=entry.name)
        part.rename(tar)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tar


# -- CLI --------------------------------------------------------------------------------------
STATE = LAB_ROOT / "cli-lab.json"


def _cli(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python3 -m lab.labctl")
    sub = ap.add_subparsers(dest="op", required=True)
    up = sub.add_parser("up", help="ensure the image, boot L1, install kvmdeck")
    up.add_argument("--port", type=int, default=22230)
    up.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    inst = sub.add_parser("install", help="install this checkout's kvmdeck in the L1 of 'up'")
    inst.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    sub.add_parser("down", help="stop the L1 started by 'up'")
    s = sub.add_parser("ssh", help="run a command in L1")
    s.add_argument("cmd")
    args = ap.parse_args(argv)
    if args.op == "up":
        lab = Lab(port=args.port)
        lab.ensure_image()
        lab.boot()
        STATE.write_text(json.dumps({"port": lab.port, "pid": lab.pid, "hash": lab.hash}))
        wheel = build_wheel(args.python, LAB_ROOT / "dist")
        lab.install_kvmdeck(wheel, build_wheelhouse(args.python, wheel))
        lab.start_guest("L2")
        print(f"L1 up: pid {lab.pid}, ssh -p {lab.port} -i {lab.key} root@127.0.0.1")
        print(f"timings: {json.dumps({k: round(v, 1) for k, v in lab.timings.items()})}")
        return 0
    lab = Lab.from_state()
    if args.op == "install":
        lab.ssh(f"{TMUX} kill-server 2>/dev/null; true")  # a kvmdeck still running
        wheel = build_wheel(args.python, LAB_ROOT / "dist")
        lab.install_kvmdeck(wheel, build_wheelhouse(args.python, wheel), warm_up=False)
        print(f"installed: {json.dumps({k: round(v, 1) for k, v in lab.timings.items()})}")
        return 0
    if args.op == "down":
        lab.stop()
        STATE.unlink()
        return 0
    res = lab.ssh_run(args.cmd)
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return res.returncode


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
