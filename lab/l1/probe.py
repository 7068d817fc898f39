#!/usr/bin/python3
"""Answer the host's questions about L1 from one long-running process (Lab.probe_call).

Under TCG every new process in L1 is expensive: one ``ssh`` with a command costs ~0.3 s, a
``virsh dumpxml`` ~1 s, ``usbdevs.sh`` (a ``cat`` per sysfs attribute) 2-4 s, and polling them
loads L1's CPUs enough to slow kvmdeck itself. Here one libvirt connection stays open and sysfs
is read in-process.

Protocol, one line each way: ``ID OP JSON-ARGS`` in, ``ID JSON-RESULT`` out (``ID !message``
when it failed). Prints ``READY`` once connected. Ends at EOF on stdin.

  usbdevs                   the lines of usbdevs.sh (port busnum devnum vendor product speed
                            serial driver-of-interface-0 product-name, tab-separated)
  xml [DOM, INACTIVE]       the domain's XML (live, or the saved config)
  hmp [DOM, COMMAND]        a QEMU monitor (HMP) command of the domain, e.g. "info usb"
  sh [COMMAND]              {"rc", "out", "err"} of a shell command (or of [ARGV...])
  state [DOM]               "running", "shut off", ... (virsh domstate)
  detach [DOM, XML]         virsh detach-device DOM XML --live
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable

import libvirt
import libvirt_qemu

SYS = "/sys/bus/usb/devices"
_conn: libvirt.virConnect | None = None


def conn() -> libvirt.virConnect:
    global _conn
    if _conn is None or not _conn.isAlive():
        _conn = libvirt.open("qemu:///system")
    return _conn


def drop_connection() -> None:
    """After a libvirt error: a dead connection is opened again by the next call."""
    global _conn
    if _conn is not None and not _conn.isAlive():
        _conn = None


def attr(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def usbdevs() -> str:
    lines = []
    for d in sorted(os.listdir(SYS)):
        base = os.path.join(SYS, d)
        if not os.path.exists(os.path.join(base, "busnum")):
            continue
        try:
            drv = os.path.basename(os.readlink(os.path.join(base, f"{d}:1.0", "driver")))
        except OSError:
            drv = ""
        names = ("busnum", "devnum", "idVendor", "idProduct", "speed", "serial")
        values = [attr(os.path.join(base, a)) for a in names]
        if not all(values[:4]):
            continue  # going away (unplugged) while read
        lines.append("\t".join([d, *values, drv, attr(os.path.join(base, "product"))]))
    return "\n".join(lines) + "\n"


def xml(dom: str, inactive: bool = False) -> str:
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
    return conn().lookupByName(dom).XMLDesc(flags)


def hmp(dom: str, command: str) -> str:
    flag = libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
    return libvirt_qemu.qemuMonitorCommand(conn().lookupByName(dom), command, flag)


def sh(command: str | list[str]) -> dict[str, object]:
    """A shell command (a string), or a program (a list: one exec fewer)."""
    shell = isinstance(command, str)
    res = subprocess.run(command, shell=shell, capture_output=True, text=True, timeout=120)
    return {"rc": res.returncode, "out": res.stdout, "err": res.stderr}


def state(dom: str) -> str:
    """ "running", "shut off", ... as virsh domstate says it."""
    code = conn().lookupByName(dom).state()[0]
    return {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_SHUTOFF: "shut off"}.get(
        code, f"state {code}"
    )


def detach(dom: str, device_xml: str) -> bool:
    """virsh detach-device DOM FILE --live."""
    conn().lookupByName(dom).detachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    return True


OPS: dict[str, Callable[..., object]] = {
    "usbdevs": usbdevs,
    "xml": xml,
    "hmp": hmp,
    "sh": sh,
    "state": state,
    "detach": detach,
}


def main() -> None:
    conn()
    print("READY", flush=True)
    for line in sys.stdin:
        ident, op, args = line.rstrip("\n").split(" ", 2)
        try:
            out = json.dumps(OPS[op](*json.loads(args)))
        except Exception as exc:  # the host gets the message
            if isinstance(exc, libvirt.libvirtError):
                drop_connection()
            out = "!" + f"{type(exc).__name__}: {exc}".replace("\n", " ")
        print(f"{ident} {out}", flush=True)


if __name__ == "__main__":
    main()
