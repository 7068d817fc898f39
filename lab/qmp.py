#!/usr/bin/python3
"""Tiny QMP client (stdlib only) for the L1 VM: plug / unplug USB devices on L1's xhci bus.

  qmp.py [--sock PATH] plug-storage ID IMAGE [SERIAL]   raw image -> usb-storage on xhci.0
  qmp.py [--sock PATH] plug ID DRIVER                   usb-kbd | usb-tablet | usb-mouse ...
  qmp.py [--sock PATH] plug-serial ID                   usb-serial (FTDI 0403:6001) on a ringbuf chardev (null never "opens": device stays detached)
  qmp.py [--sock PATH] unplug ID                        device_del, wait DEVICE_DELETED, drop backend
  qmp.py [--sock PATH] list                             USB devices on L1's buses (HMP info usb)
  qmp.py [--sock PATH] raw '{"execute": ...}'
  qmp.py [--sock PATH] powerdown | quit
Each command prints one line "<host unix time> <what> <seconds it took>" (plus replies on error).
"""

import contextlib
import json
import os
import socket
import sys
import time
from typing import Any

SOCK = os.environ.get("LAB_QMP", "/var/tmp/kvmdeck-lab/run-22230/qmp.sock")


class QMP:
    def __init__(self, path: str) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rwb", buffering=0)
        self.events: list[dict[str, Any]] = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.f.readline()
        if not line:
            raise SystemExit("QMP connection closed")
        msg: dict[str, Any] = json.loads(line)
        return msg

    def cmd(self, execute: str, **args: Any) -> Any:
        msg: dict[str, Any] = {"execute": execute}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\r\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError(f"{execute}: {r['error']}")
            return r.get("return")

    def wait_event(
        self, name: str, dev_id: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        end = time.time() + timeout
        while True:
            for e in self.events:
                if e["event"] == name and (
                    dev_id is None or e.get("data", {}).get("device") == dev_id
                ):
                    self.events.remove(e)
                    return e
            left = end - time.time()
            if left <= 0:
                raise TimeoutError(name)
            self.s.settimeout(left)
            try:
                r = self._read()
            finally:
                self.s.settimeout(None)
            if "event" in r:
                self.events.append(r)


def out(what: str, t0: float) -> None:
    print(f"{t0:.3f} {what} {time.time() - t0:.3f}", flush=True)


def main(argv: list[str]) -> int:
    sock = SOCK
    if argv[:1] == ["--sock"]:
        sock, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__)
        return 2
    q = QMP(sock)
    op, rest = argv[0], argv[1:]
    t0 = time.time()
    if op == "plug-storage":
        dev_id, image = rest[0], rest[1]
        serial = rest[2] if len(rest) > 2 else dev_id.upper()
        q.cmd(
            "blockdev-add",
            **{
                "driver": "raw",
                "node-name": f"{dev_id}-blk",
                "file": {"driver": "file", "filename": image},
            },
        )
        q.cmd(
            "device_add",
            driver="usb-storage",
            id=dev_id,
            drive=f"{dev_id}-blk",
            bus="xhci.0",
            serial=serial,
        )
        out(f"plugged usb-storage {dev_id}", t0)
    elif op == "plug":
        dev_id, driver = rest[0], rest[1]
        q.cmd("device_add", driver=driver, id=dev_id, bus="xhci.0")
        out(f"plugged {driver} {dev_id}", t0)
    elif op == "plug-serial":
        dev_id = rest[0]
        q.cmd(
            "chardev-add", id=f"{dev_id}-chr", backend={"type": "ringbuf", "data": {"size": 4096}}
        )
        q.cmd("device_add", driver="usb-serial", id=dev_id, chardev=f"{dev_id}-chr", bus="xhci.0")
        out(f"plugged usb-serial {dev_id}", t0)
    elif op == "unplug":
        dev_id = rest[0]
        q.cmd("device_del", id=dev_id)
        q.wait_event("DEVICE_DELETED", dev_id)
        # drop the backend if plug-storage / plug-serial created one
        for c, a in (
            ("blockdev-del", {"node-name": f"{dev_id}-blk"}),
            ("chardev-remove", {"id": f"{dev_id}-chr"}),
        ):
            with contextlib.suppress(RuntimeError):
                q.cmd(c, **a)
        out(f"unplugged {dev_id}", t0)
    elif op == "list":
        print(q.cmd("human-monitor-command", **{"command-line": "info usb"}), end="")
    elif op == "raw":
        m = json.loads(rest[0])
        print(json.dumps(q.cmd(m["execute"], **m.get("arguments", {}))))
    elif op == "powerdown":
        q.cmd("system_powerdown")
        out("powerdown sent", t0)
    elif op == "quit":
        q.cmd("quit")
        out("quit sent", t0)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
