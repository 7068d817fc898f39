"""A umockdev testbed in its own process, driven over stdin/stdout, and its client.

Two halves in one file:

* ``main()`` runs under Debian's ``/usr/bin/python3`` (which has ``gi.repository.UMockdev``),
  itself under ``umockdev-wrapper``. It prints the testbed root dir, then serves one command per
  line and answers one line each::

      add {"name": "1-1", "parent": "/sys/devices/usb1", "attributes": {..}, "properties": {..}}
          -> ok {"path": "/sys/devices/usb1/1-1", "t": <time.monotonic() just before the uevent>}
      remove /sys/devices/usb1/1-1      (sends the "remove" uevent first: 0.17 does not)
          -> ok {"t": ...}
      uevent /sys/devices/usb1/1-1 bind -> ok {"t": ...}
      quit                              -> ok {}
  Errors answer ``err <message>``.

* :class:`UsbBed` (imported by the tests and ``bench/usb_latency.py``) starts that process and
  wraps the protocol. Set ``os.environ["UMOCKDEV_DIR"] = bed.root`` in *this* process before
  creating a pyudev Context or Monitor; the calling process must run under umockdev-wrapper too.

The emulated netlink socket holds about 10 datagrams and the testbed aborts when it is full:
send at most :data:`MAX_BURST` events, then let the consumer catch up.
``time.monotonic()`` is CLOCK_MONOTONIC, shared by both processes, so ``t`` values can be
subtracted from the consumer's own ``time.monotonic()`` to get plug-to-seen latency.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
MAX_BURST = 8
PRELOAD_MARK = "libumockdev-preload"
HELPER = Path(__file__).resolve()


# --------------------------------------------------------------------------------------------
# Server half (runs under /usr/bin/python3 with gi)
# --------------------------------------------------------------------------------------------
def _flat(mapping: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in mapping.items():
        out += [str(key), str(value)]
    return out


def main() -> int:  # pragma: no cover - runs in the helper process
    import gi

    gi.require_version("UMockdev", "1.0")
    from gi.repository import UMockdev

    testbed = UMockdev.Testbed.new()
    print(testbed.get_root_dir(), flush=True)

    def reply(payload: dict[str, Any]) -> None:
        print("ok " + json.dumps(payload), flush=True)

    for raw in sys.stdin:
        line = raw.strip()
        if not line:
            continue
        verb, _, rest = line.partition(" ")
        try:
            if verb == "add":
                spec = json.loads(rest)
                t = time.monotonic()
                path = testbed.add_device(
                    spec.get("subsystem", "usb"),
                    spec["name"],
                    spec.get("parent"),
                    _flat(spec.get("attributes", {})),
                    _flat(spec.get("properties", {})),
                )
                if not path:
                    raise RuntimeError(f"add_device refused {spec['name']}")
                reply({"path": path, "t": t})
            elif verb == "remove":
                t = time.monotonic()
                testbed.uevent(rest, "remove")
                testbed.remove_device(rest)
                reply({"t": t})
            elif verb == "uevent":
                path, _, action = rest.rpartition(" ")
                t = time.monotonic()
                testbed.uevent(path, action)
                reply({"t": t})
            elif verb == "set_property":
                path, name, value = rest.split(" ", 2)
                testbed.set_property(path, name, value)
                reply({})
            elif verb == "quit":
                reply({})
                return 0
            else:
                print(f"err unknown command {verb!r}", flush=True)
        except Exception as exc:
            print(f"err {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# Client half (runs in the test / bench process)
# --------------------------------------------------------------------------------------------
class Missing(Exception):
    """A component is missing; ``package`` is the Debian package to install (or a command)."""

    def __init__(self, what: str, package: str) -> None:
        super().__init__(f"{what} is missing: apt-get install {package}")
        self.package = package


class NotWrapped(Exception):
    pass


RUN_HINT = "umockdev-wrapper .venv/bin/pytest tests/usb"


def check_requirements() -> None:
    """Raise :class:`Missing` or :class:`NotWrapped` unless the bed can run here."""
    if shutil.which("umockdev-wrapper") is None:
        raise Missing("umockdev-wrapper", "umockdev")
    probe = (
        subprocess.run(
            [
                SYSTEM_PYTHON,
                "-c",
                "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev",
            ],
            capture_output=True,
            text=True,
        )
        if Path(SYSTEM_PYTHON).exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        raise Missing(
            f"{SYSTEM_PYTHON} with gi.repository.UMockdev", "python3-gi gir1.2-umockdev-1.0"
        )
    if PRELOAD_MARK not in os.environ.get("LD_PRELOAD", ""):
        raise NotWrapped(
            f"this process is not under umockdev-wrapper (LD_PRELOAD has no {PRELOAD_MARK});"
            f" run: {RUN_HINT}"
        )


def usb_spec(
    name: str,
    parent: str | None,
    busnum: int,
    devnum: int,
    vendor_id: int,
    product_id: int,
    *,
    manufacturer: str | None = None,
    product: str | None = None,
    serial: str | None = None,
    speed: str = "480",
    hwdb: tuple[str, str] | None = None,
    pad: bool = True,
    driver: str | None = None,
) -> dict[str, Any]:
    """The attributes and properties of one ``usb_device`` as the kernel and udev show them.

    ``pad`` writes BUSNUM/DEVNUM zero-padded ("010") as udev does, and the sysfs ``busnum`` and
    ``devnum`` attributes with leading zeros too, to catch octal parsing. ``hwdb`` adds
    ``ID_VENDOR_FROM_DATABASE``/``ID_MODEL_FROM_DATABASE`` as a running udevd would.
    """
    bus = f"{busnum:03d}" if pad else str(busnum)
    dev = f"{devnum:03d}" if pad else str(devnum)
    attributes: dict[str, str] = {
        "busnum": bus,
        "devnum": dev,
        "idVendor": f"{vendor_id:04x}",
        "idProduct": f"{product_id:04x}",
        "speed": speed,
        "bDeviceClass": "00",
    }
    if manufacturer is not None:
        attributes["manufacturer"] = manufacturer
    if product is not None:
        attributes["product"] = product
    if serial is not None:
        attributes["serial"] = serial
    properties: dict[str, str] = {
        "DEVTYPE": "usb_device",
        "BUSNUM": bus,
        "DEVNUM": dev,
        "PRODUCT": f"{vendor_id:x}/{product_id:x}/100",
        "TYPE": "0/0/0",
    }
    if hwdb is not None:
        properties["ID_VENDOR_FROM_DATABASE"], properties["ID_MODEL_FROM_DATABASE"] = hwdb
    if driver is not None:
        properties["DRIVER"] = driver
    return {
        "subsystem": "usb",
        "name": name,
        "parent": parent,
        "attributes": attributes,
        "properties": properties,
    }


@dataclass(frozen=True)
class Sent:
    path: str
    t: float  # helper's time.monotonic() just before the uevent went out


class UsbBed:
    """Client of one helper process (one testbed). Use :meth:`start` and :meth:`close`."""

    def __init__(self, proc: subprocess.Popen[str], root: str) -> None:
        self.proc = proc
        self.root = root
        self.hub: str | None = None

    @classmethod
    def start(cls, root_hub: bool = True) -> UsbBed:
        check_requirements()
        env = dict(os.environ)
        env.pop("UMOCKDEV_DIR", None)  # a fresh testbed, not the caller's
        proc = subprocess.Popen(
            ["umockdev-wrapper", SYSTEM_PYTHON, str(HELPER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        root = proc.stdout.readline().strip()
        if not root:
            proc.kill()
            raise RuntimeError(f"umockdev helper died at start (rc={proc.wait()})")
        bed = cls(proc, root)
        if root_hub:
            bed.hub = bed.add(
                usb_spec(
                    "usb1",
                    None,
                    1,
                    1,
                    0x1D6B,
                    0x0002,
                    manufacturer="Linux 6.1 xhci-hcd",
                    product="xHCI Host Controller",
                    speed="480",
                    driver="usb",
                )
            ).path
        return bed

    def _call(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise RuntimeError(f"umockdev helper is gone (rc={self.proc.poll()})") from exc
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(
                f"umockdev helper died (rc={self.proc.wait()}); a full netlink queue aborts it:"
                f" send at most {MAX_BURST} events before letting the consumer drain"
            )
        status, _, payload = answer.strip().partition(" ")
        if status != "ok":
            raise RuntimeError(f"umockdev helper: {payload}")
        result: dict[str, Any] = json.loads(payload)
        return result

    def add(self, spec: dict[str, Any]) -> Sent:
        answer = self._call("add " + json.dumps(spec))
        return Sent(answer["path"], answer["t"])

    def plug(
        self, name: str, busnum: int, devnum: int, vendor_id: int, product_id: int, **kwargs: Any
    ) -> Sent:
        """Plug a device under the root hub (or under ``parent=`` a hub path)."""
        parent = kwargs.pop("parent", None) or self.hub
        return self.add(usb_spec(name, parent, busnum, devnum, vendor_id, product_id, **kwargs))

    def unplug(self, path: str) -> Sent:
        return Sent(path, self._call(f"remove {path}")["t"])

    def uevent(self, path: str, action: str) -> Sent:
        return Sent(path, self._call(f"uevent {path} {action}")["t"])

    def set_property(self, path: str, name: str, value: str) -> None:
        self._call(f"set_property {path} {name} {value}")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError):
                self._call("quit")
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> UsbBed:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
