"""Why a libvirt connection failed, classified from libvirt's error code, domain and message.

libvirt reports most open failures as ``VIR_ERR_SYSTEM_ERROR`` from ``VIR_FROM_RPC`` (codes 38/7),
so the code only discriminates a few cases (an unknown driver, an unparsable URI, an unknown
transport, libssh's authentication errors); the rest is told apart by the message. Messages
measured with libvirt 9.0 and OpenSSH 9.2 on Debian 12 (``tests/test_status.py`` reproduces each):

=================================================  ============================================
URI / situation                                    libvirt's message (code, domain)
=================================================  ============================================
``foo:///bar``                                     no connection driver available for foo:///bar
                                                   (5 NO_CONNECT, 0)
``qemu://[bad/system``                             internal error: Unable to parse URI … (1, 45 URI)
``qemu+foo://h/system``                            invalid argument: remote_open: transport in URL
                                                   not recognised (should be tls|unix|ssh|…) (8, 13)
``qemu:///system?mode=bogus``                      invalid argument: Unknown remote mode 'bogus'
``qemu:///bogus``                                  internal error: unexpected qemu URI path
                                                   '/bogus', try qemu:///system (1)
``qemu:///system?socket=/nonexistent/sock``        Failed to connect socket to '/nonexistent/sock':
                                                   No such file or directory (38, 7 RPC)
``qemu+tcp://127.0.0.1:1/system``                  unable to connect to server at '127.0.0.1:1':
                                                   Connection refused (38, 7)
``qemu+tcp://`` no route / unknown name            unable to connect to server at 'H:16509': No
                                                   route to host; Unable to resolve address 'H'
                                                   service '16509': Name or service not known
``qemu+ssh://root@127.0.0.1:1/system``             Cannot recv data: ssh: connect to host 127.0.0.1
                                                   port 1: Connection refused: Connection reset by
                                                   peer (38, 7)
``qemu+ssh://`` unknown name / no route            Cannot recv data: ssh: Could not resolve hostname
                                                   H: Name or service not known: …; ssh: connect to
                                                   host H port 22: No route to host: …
ssh, empty known_hosts (BatchMode)                 Cannot recv data: Host key verification failed.:
                                                   Connection reset by peer
ssh, wrong key in known_hosts                      Cannot recv data: @@@ WARNING: REMOTE HOST
                                                   IDENTIFICATION HAS CHANGED! … Offending ED25519
                                                   key in FILE:1 … Host key verification failed.: …
ssh, key not authorized (or no key at all)         Cannot recv data: root@127.0.0.1: Permission
                                                   denied (publickey).: Connection reset by peer
libssh2 wrong known_hosts / unknown host           authentication failed: !!! SSH HOST KEY
                                                   VERIFICATION FAILED !!!: … differs from stored
                                                   identity (45, 50 SSH); SSH transport error: No
                                                   user interaction callback provided: Can't verify
                                                   the session host key (85, 50)
libssh2 / libssh key refused                       authentication failed: authentication with
                                                   private key … has failed (45, 50); libssh
                                                   transport error: failed to authenticate: Access
                                                   denied for 'publickey' (98, 66)
non-root user, ``qemu:///system`` here             internal error: Unable to get system bus
(socket 0777, auth_unix_rw=polkit, no D-Bus)       connection: Could not connect: No such file or
                                                   directory (1, 47 DBUS): libvirtd's polkit check
non-root user, a 0700 root socket                  Failed to connect socket to
(Debian's 0770 root:libvirt socket alike)          '/var/run/libvirt/libvirt-admin-sock': Permission
                                                   denied (38, 7)
a peer that accepts, then closes (tcp)             End of file while reading data: Input/output
                                                   error (38, 7)
a peer that accepts, then closes (ssh)             Cannot recv data: kex_exchange_identification:
                                                   Connection closed by remote host …
ssh with ``socket=``, no nc on the host            End of file while reading data: sh: 1: nc: not
                                                   found: Input/output error
a peer that accepts and never answers              nothing: ``virConnectOpen`` blocks for minutes
                                                   (the caller's deadline gives ``no_answer``)
=================================================  ============================================
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
from urllib.parse import parse_qsl, urlsplit

from tui.model.link import FailureCause, LinkFailure
from tui.util import shell_command

# libvirt's numbers (virterror.h); stable ABI, spelled out so this module needs no libvirt import.
ERR_NO_CONNECT = 5
ERR_INVALID_ARG = 8
ERR_XML = 27
ERR_AUTH_FAILED = 45
ERR_OPERATION_TIMEOUT = 68
ERR_AUTH_CANCELLED = 79
ERR_AUTH_UNAVAILABLE = 94
FROM_TEST = 12
FROM_REMOTE = 13
FROM_URI = 45
FROM_DBUS = 47
FROM_SSH = 50
FROM_LIBSSH = 66

SYSTEM_SOCKET = "/var/run/libvirt/libvirt-sock"
MODULAR_SOCKET = "/var/run/libvirt/virtqemud-sock"

_SOCKET_RE = re.compile(r"(?:connect socket to|socket) '([^']+)'", re.I)
_SERVER_RE = re.compile(r"server at '([^']+)'", re.I)
_OFFENDING_RE = re.compile(r"Offending \S+ key in (\S+?):\d+")
_STORED_RE = re.compile(r"The key is stored in '([^']+)'")


def _has(low: str, *needles: str) -> bool:
    return any(n in low for n in needles)


def one_line(message: str) -> str:
    """libvirt's message on one line, without ssh's banner art and the transport's wrapping."""
    lines = [x.strip() for x in message.replace("\r", "\n").split("\n")]
    keep = [
        x
        for x in lines
        if x and not x.startswith("@") and not x.startswith("Warning: Permanently added")
    ]
    text = " ".join(keep)
    for prefix in ("Cannot recv data: ", "End of file while reading data: "):
        if not text.startswith(prefix):
            continue
        rest = text[len(prefix) :]
        for suffix in (": Connection reset by peer", ": Input/output error"):
            if rest.endswith(suffix):
                rest = rest[: -len(suffix)]
        if rest and rest not in ("Connection reset by peer", "Input/output error"):
            text = rest  # the peer's own words (ssh's or the remote helper's stderr)
    return text.strip()


def local_user() -> str:
    """The effective user's name (what the socket's permission check sees)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        try:
            return getpass.getuser()
        except OSError:
            return str(os.geteuid())


def _query(uri: str | None) -> dict[str, str]:
    if not uri:
        return {}
    try:
        return dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))
    except ValueError:
        return {}


def _socket_path(uri: str | None, message: str, remote: bool) -> str:
    """The socket libvirt tried: from its message, the URI's ``socket=``, or the default."""
    found = _SOCKET_RE.search(message)
    if found:
        return found.group(1)
    if _query(uri).get("socket"):
        return _query(uri)["socket"]
    if not remote and os.path.exists(MODULAR_SOCKET) and not os.path.exists(SYSTEM_SOCKET):
        return MODULAR_SOCKET
    return SYSTEM_SOCKET


class _Target:
    """Where a URI points: host, port, ssh user, transport."""

    def __init__(self, uri: str | None) -> None:
        self.uri = uri or ""
        try:
            parts = urlsplit(self.uri)
            self.port: int | None = parts.port
        except ValueError:  # malformed (libvirt says so too) or a port out of range
            parts, self.port = urlsplit(""), None
        scheme = parts.scheme.lower()
        self.driver, _, self.transport = scheme.partition("+")
        self.host = parts.hostname or ""
        self.user = parts.username or ""
        self.ssh = self.transport in ("ssh", "libssh", "libssh2")
        if self.ssh and not self.host:
            self.host = "localhost"
        self.remote = bool(self.host) or self.transport in (
            "tcp",
            "tls",
            "ssh",
            "libssh",
            "libssh2",
        )

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def ssh_command(self) -> str:
        port = ["-p", str(self.port)] if self.port else []
        user = f"{self.user}@" if self.user else ""
        return shell_command("ssh", *port, f"{user}{self.host}")  # quoted: safe to paste

    @property
    def known_hosts_name(self) -> str:
        return f"[{self.host}]:{self.port}" if self.port and self.port != 22 else self.host

    @property
    def name(self) -> str:
        return self.uri or "libvirt default"


def _failure(
    cause: FailureCause, summary: str, fix: str, detail: str, retry: bool = True
) -> LinkFailure:
    return LinkFailure(cause, summary, fix, retry, detail)


def _invalid(low: str, code: int | None, domain: int | None) -> bool:
    if code == ERR_NO_CONNECT or "no connection driver available" in low:
        return True
    if domain == FROM_URI or "unable to parse uri" in low:
        return True
    if code == ERR_INVALID_ARG and domain == FROM_REMOTE:
        return True  # the remote driver's own URI checks: transport, mode, parameters
    if _has(low, "transport in url not recognised", "unknown remote mode"):
        return True
    if "unexpected" in low and "uri path" in low:
        return True
    return domain == FROM_TEST and (code == ERR_XML or "failed to parse xml" in low)


def _unreachable_reason(low: str) -> str | None:
    if _has(low, "could not resolve hostname", "name or service not known", "unable to resolve"):
        return "its name is not known (DNS)"
    if "temporary failure in name resolution" in low:
        return "the name cannot be resolved now (DNS)"
    if "no route to host" in low:
        return "no route to host"
    if "network is unreachable" in low:
        return "network is unreachable"
    if _has(low, "connection timed out", "operation timed out"):
        return "the connection timed out"
    return None


def classify_failure(
    uri: str | None, message: str, code: int | None = None, domain: int | None = None
) -> LinkFailure:
    """Classify a failed open (or a lost link) of ``uri`` from libvirt's message, error code
    and error domain. Pure: the same inputs always give the same :class:`LinkFailure`, except
    for the local user's name and whether the modular daemon's socket exists."""
    low = message.lower()
    detail = one_line(message)
    t = _Target(uri)
    if domain in (FROM_SSH, FROM_LIBSSH):  # libssh2/libssh raised it: an SSH problem
        t.ssh = t.remote = True
    where = t.name

    if _invalid(low, code, domain):
        return _failure(
            FailureCause.INVALID_URI,
            f"{where} is not a URI this libvirt can open ({detail})",
            "Check its spelling: libvirt URIs look like qemu:///system, "
            "qemu+ssh://user@host/system or test:///default",
            detail,
            retry=False,
        )

    if t.ssh and _has(low, "nc: not found", "virt-ssh-helper: not found", "command not found"):
        return _failure(
            FailureCause.OTHER,
            f"{t.host} has neither virt-ssh-helper nor nc, so libvirt cannot reach its socket "
            "over SSH",
            "Install libvirt there (apt-get install libvirt-daemon-system), or netcat-openbsd "
            "when the URI sets socket=",
            detail,
        )

    # The libvirt socket itself: on this machine, or on the far side of ssh.
    sock = _socket_path(uri, message, t.remote)
    user = (t.user or local_user()) if t.ssh else local_user()
    on = f" on {t.host}" if t.ssh else ""
    run_there = f"on {t.host}: " if t.ssh else "as root: "
    socket_msg = _has(low, "connect socket to", "failed to connect socket")
    if socket_msg and "permission denied" in low:
        why = "permission denied"
    elif "system bus" in low and (domain == FROM_DBUS or "unable to get" in low):
        why = "libvirtd asks polkit, and polkit is not reachable: no D-Bus system bus"
    elif _has(low, "polkit", "access denied by policy") or (
        not t.ssh and code in (ERR_AUTH_FAILED, ERR_AUTH_UNAVAILABLE, ERR_AUTH_CANCELLED)
    ):
        why = f"polkit refused it ({detail})"
    else:
        why = ""
    if why:
        fix = (
            f"Add the user to group libvirt ({run_there}usermod -aG libvirt {user}), then log "
            "in again"
        )
        if "polkit" in why:
            fix += (
                "; this libvirtd asks polkit (auth_unix_rw), so D-Bus and polkitd must run too, "
                'or set unix_sock_group = "libvirt" and auth_unix_rw = "none" in '
                "libvirtd.conf"
            )
        if t.ssh and user != "root":
            fix += f"; or connect as root@{t.host}"
        return _failure(
            FailureCause.SOCKET_PERMISSION,
            f"user {user} may not use libvirt's socket {sock}{on} ({why})",
            fix,
            detail,
        )
    if socket_msg and _has(low, "no such file", "connection refused"):
        state = "no socket at" if "no such file" in low else "nothing listens on"
        start = (
            f"Start it there ({t.ssh_command} systemctl start libvirtd)"
            if t.ssh
            else "Start it (systemctl start libvirtd, or 'virtlogd -d; libvirtd -d'), "
            "or try 'kvmdeck --demo'"
        )
        return _failure(
            FailureCause.DAEMON_DOWN, f"libvirtd is not running{on}: {state} {sock}", start, detail
        )

    if t.ssh:
        if _has(
            low,
            "remote host identification has changed",
            "differs from stored identity",
        ):
            found = _OFFENDING_RE.search(message) or _STORED_RE.search(message)
            kh = f"-f {found.group(1)} " if found else ""
            return _failure(
                FailureCause.SSH_HOST_KEY,
                f"the SSH host key of {t.hostport} has changed: it is not the one in known_hosts",
                f"If {t.host} was reinstalled, remove the old key (ssh-keygen {kh}-R "
                f"'{t.known_hosts_name}') and accept the new one with {t.ssh_command}; "
                "otherwise someone may be intercepting the connection",
                detail,
            )
        if _has(low, "host key verification failed", "verify the session host key"):
            return _failure(
                FailureCause.SSH_HOST_KEY,
                f"the SSH host key of {t.hostport} is not known (not in known_hosts)",
                f"kvmdeck never prompts: check and accept the key once with {t.ssh_command}",
                detail,
            )
        if _has(
            low,
            "permission denied (",
            "authentication failed",
            "failed to authenticate",
            "username/publickey combination invalid",
            "no more authentication methods",
            "too many authentication failures",
        ) or code in (ERR_AUTH_FAILED, ERR_AUTH_CANCELLED):
            login = f"{t.user}@{t.host}" if t.user else t.host
            return _failure(
                FailureCause.SSH_AUTH,
                f"SSH authentication as {login} failed (the key was refused, or there is none)",
                "kvmdeck never prompts for a password, so SSH needs a key or an agent: run "
                "ssh-add, or add ?keyfile=/path/to/key to the URI, and put the public key in "
                f"~{t.user or user}/.ssh/authorized_keys on {t.host}",
                detail,
            )
        if "connection refused" in low:
            return _failure(
                FailureCause.SSH_REFUSED,
                f"SSH connection to {t.hostport} refused: no sshd listens there",
                "Check the host and port in the URI (qemu+ssh://user@host:port/system) and that "
                "sshd runs there (systemctl start ssh)",
                detail,
            )
        if _has(low, "kex_exchange_identification", "connection closed by"):
            return _failure(
                FailureCause.LOST,
                f"{t.hostport} closed the connection before the SSH handshake",
                "Is an sshd listening on that port? It may also be limiting new connections "
                "(MaxStartups, fail2ban)",
                detail,
            )

    reason = _unreachable_reason(low)
    if reason and t.remote:
        return _failure(
            FailureCause.SSH_UNREACHABLE,
            f"cannot reach {t.host or where}: {reason}",
            f"Check the host name in the URI, DNS and the network path (ping {t.host})",
            detail,
        )

    if not t.ssh and "connection refused" in low and _has(low, "server at", "connect to"):
        found = _SERVER_RE.search(message)
        at = found.group(1) if found else t.hostport
        return _failure(
            FailureCause.DAEMON_DOWN,
            f"libvirtd is not running on {t.host} or not listening on TCP: {at} refused the "
            "connection",
            "Start it there with TCP enabled (systemctl start libvirtd-tcp.socket, or "
            "listen_tcp = 1), check the port, or use qemu+ssh://",
            detail,
        )

    if "certificate" in low and t.transport in ("tls", ""):
        return _failure(
            FailureCause.OTHER,
            f"TLS to {t.hostport or where} is not set up here ({detail})",
            "qemu+tls:// needs the CA and client certificates (/etc/pki, or ?pkipath=); "
            "or use qemu+ssh://",
            detail,
        )

    if code == ERR_OPERATION_TIMEOUT or _has(low, "keepalive timeout", "timed out"):
        return _failure(
            FailureCause.NO_ANSWER,
            f"no answer from {where} ({detail})",
            "The host, its network path or its libvirtd is hung: check that it is up",
            detail,
        )

    if _has(
        low,
        "end of file while reading data",
        "connection reset by peer",
        "broken pipe",
        "client socket is closed",
        "connection closed",
        "not connected",
    ):
        return _failure(
            FailureCause.LOST,
            f"the connection to {where} dropped ({detail})",
            "If it keeps dropping, check the network and libvirtd's log there",
            detail,
        )

    return _failure(
        FailureCause.OTHER,
        detail or f"libvirt gave no reason for failing to open {where}",
        "Check the URI and that libvirtd runs there, or try 'kvmdeck --demo'",
        detail,
    )
