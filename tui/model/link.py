"""A host link's state and why it failed, as values. Pure: no libvirt here.

:class:`LinkFailure` is what the UI, ``kvmdeck stats`` and ``doctor`` show for a host that is not
connected: the cause, one line saying what happened, one line saying what to do, and whether
retrying can help. ``tui.adapters.libvirt.connection.classify_failure`` turns libvirt's errors
into one; :func:`no_answer` is the failure of a connection that did not answer in time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FailureCause(enum.Enum):
    """Why a host is not connected. Each cause has its own fix line."""

    SSH_REFUSED = "ssh-refused"  # nothing listens on the SSH port
    SSH_UNREACHABLE = "unreachable"  # no route, name not known, connect timed out (ssh or tcp)
    SSH_HOST_KEY = "ssh-host-key"  # host key unknown or changed
    SSH_AUTH = "ssh-auth"  # the key was refused, or there is no key/agent
    SOCKET_PERMISSION = "socket-permission"  # this user may not use libvirtd's socket
    DAEMON_DOWN = "daemon-down"  # no libvirtd behind the socket or port
    NO_ANSWER = "no-answer"  # connected, then nothing (hung host or daemon)
    INVALID_URI = "invalid-uri"  # unknown scheme/driver/transport, malformed: never retried
    LOST = "lost"  # the connection dropped
    OTHER = "other"


@dataclass(frozen=True)
class LinkFailure:
    """A failed or lost connection, for display.

    ``summary``: what happened (no trailing period); ``fix``: what to do about it; ``retry``:
    whether retrying can help (False only for an invalid URI); ``detail``: libvirt's own words on
    one line, for logs.
    """

    cause: FailureCause
    summary: str
    fix: str
    retry: bool = True
    detail: str = ""

    def text(self) -> str:
        """One line for the hosts bar, a notification or stderr."""
        return f"{self.summary}. {self.fix}" if self.fix else self.summary


def no_answer(uri: str | None, seconds: float) -> LinkFailure:
    """The failure of a connection (or a call on it) that did not answer within ``seconds``."""
    return LinkFailure(
        FailureCause.NO_ANSWER,
        f"no answer from {uri or 'libvirt default'} after {seconds:g} s",
        "The host, its network path or its libvirtd is hung: check that it is up "
        "(ping it, or 'virsh -c URI version' there)",
        True,
    )


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    UP = "up"
    RECONNECTING = "reconnecting"
    DOWN = "down"


@dataclass
class LinkReport:
    """What a link tells the app: its state, the error text if any, and the classified failure."""

    uri: str | None
    state: LinkState
    error: str = ""
    attempt: int = 0
    failure: LinkFailure | None = None
