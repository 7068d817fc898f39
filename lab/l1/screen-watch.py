#!/usr/bin/python3
"""Watch a tmux pane in L1 for patterns (for latency figures measured on the host's clock).

    screen-watch.py SESSION     then one regex per stdin line; prints "SEEN <n>" when the pane
                                shows the n-th pattern (n counts from 1), "READY" at start.
The host stamps each line on arrival (ssh adds ~30 ms, the same for every sample).
"""

import re
import subprocess
import sys
import time

session = sys.argv[1]
print("READY", flush=True)
for n, line in enumerate(sys.stdin, 1):
    pattern = re.compile(line.rstrip("\n"))
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pane = subprocess.run(
            ["tmux", "-u", "-L", "lab", "capture-pane", "-p", "-t", session],
            capture_output=True,
            text=True,
        ).stdout
        if pattern.search(pane):
            print(f"SEEN {n}", flush=True)
            break
        time.sleep(0.01)
    else:
        print(f"TIMEOUT {n}", flush=True)
