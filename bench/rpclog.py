"""Count the RPCs a libvirt client sends, from its own debug log (``LIBVIRT_LOG_FILTERS=1:rpc``).

Each request leaves a ``RPC_CLIENT_MSG_TX_QUEUE ... prog=P vers=1 proc=N`` line. Keepalive
messages use another program number and are left out.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from pathlib import Path

REMOTE_PROGRAM = 0x20008086  # 536903814
PROC_NAMES = {
    1: "connectOpen",
    2: "connectClose",
    7: "nodeGetInfo",
    14: "domainGetXMLDesc",
    59: "connectGetHostname",
    60: "connectSupportsFeature",
    66: "authList",
    151: "domainIsPersistent",
    316: "connectDomainEventCallbackRegisterAny",
    344: "connectGetAllDomainStats",
    273: "connectListAllDomains",
}
GET_ALL_DOMAIN_STATS = 344
_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\+0000: .*RPC_CLIENT_MSG_TX_QUEUE: .*"
    r"prog=(\d+) vers=\d+ proc=(\d+)"
)


def log_env(path: Path) -> dict[str, str]:
    return {"LIBVIRT_LOG_FILTERS": "1:rpc", "LIBVIRT_LOG_OUTPUTS": f"1:file:{path}"}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def count(
    path: Path, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> collections.Counter[str]:
    """RPCs by procedure name, sent between ``start`` and ``end`` (naive UTC)."""
    out: collections.Counter[str] = collections.Counter()
    if not path.exists():
        return out
    with path.open(errors="replace") as fh:
        for line in fh:
            m = _LINE.match(line)
            if not m or int(m.group(2)) != REMOTE_PROGRAM:
                continue
            t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
            if (start and t < start) or (end and t > end):
                continue
            proc = int(m.group(3))
            out[PROC_NAMES.get(proc, f"proc {proc}")] += 1
    return out
