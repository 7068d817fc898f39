#!/usr/bin/python3
"""Print every udev event of subsystem usb (and block/tty/input children) with timestamps.
One line per event: <realtime> <monotonic> <action> <subsystem> <devtype> <sys_path> key=val...
Prints 'READY' once the monitor is listening (so a driver can start plugging)."""

import sys
import time

import pyudev

ctx = pyudev.Context()
mon = pyudev.Monitor.from_netlink(ctx)  # source='udev': events after udevd processed them
subs = sys.argv[1:] or ["usb"]
for s in subs:
    mon.filter_by(s)
mon.start()
print("READY", flush=True)
for dev in iter(mon.poll, None):
    p = dev.properties
    keys = [
        k
        for k in (
            "ID_VENDOR_ID",
            "ID_MODEL_ID",
            "BUSNUM",
            "DEVNUM",
            "ID_VENDOR_FROM_DATABASE",
            "ID_MODEL_FROM_DATABASE",
            "DRIVER",
            "DEVNAME",
            "SEQNUM",
        )
        if k in p
    ]
    print(
        f"{time.time():.3f} {time.monotonic():.3f} {dev.action} {dev.subsystem} {dev.device_type} "
        f"{dev.sys_path} " + " ".join(f"{k}={p[k]!r}" for k in keys),
        flush=True,
    )
