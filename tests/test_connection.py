"""Connection choice (virsh's order), SSH safety, and clear errors from a real libvirt.

The classifier table below holds libvirt 9.0's real messages, codes and domains, as measured on
this machine (two are marked as taken from the source text); tests/test_status.py reproduces the
main cases for real.
"""

from __future__ import annotations

import pytest

import tui.model.link
from tui.adapters.libvirt import connection
from tui.adapters.libvirt.connection import (
    ConnectFailed,
    FailureCause,
    choose_uris,
    classify_failure,
    demo_uri,
    is_remote,
    no_answer,
    open_connection,
    ssh_target,
    with_no_tty,
)


def test_order_cli_env_config_default() -> None:
    env = {"LIBVIRT_DEFAULT_URI": "qemu:///session"}
    assert choose_uris(["test:///default"], env, "qemu:///system") == ["test:///default"]
    assert choose_uris(None, env, "qemu:///system") == ["qemu:///session"]
    assert choose_uris(None, {}, "qemu:///system") == ["qemu:///system"]
    assert choose_uris(None, {}, None, ["a:///", "b:///"]) == ["a:///", "b:///"]
    assert choose_uris(None, {}, None) == [None]  # libvirt's own default
    assert choose_uris(["x:///", "x:///", "y:///"], {}, None) == ["x:///", "y:///"]


def test_ssh_never_prompts() -> None:
    assert with_no_tty("qemu+ssh://root@h:2222/system") == "qemu+ssh://root@h:2222/system?no_tty=1"
    kept = with_no_tty("qemu+ssh://h/system?keyfile=/k&no_tty=0")
    assert kept == "qemu+ssh://h/system?keyfile=/k&no_tty=0"
    assert with_no_tty("qemu:///system") == "qemu:///system"
    assert "keyfile=%2Froot%2Fk" in (with_no_tty("qemu+ssh://h/system?keyfile=/root/k") or "") or (
        "keyfile=/root/k" in (with_no_tty("qemu+ssh://h/system?keyfile=/root/k") or "")
    )


def test_remote_detection() -> None:
    assert is_remote("qemu+ssh://u@h:22/system")
    assert not is_remote("qemu:///system")
    assert not is_remote(None)
    assert ssh_target("qemu+ssh://user@host:2222/system") == ("user", "host", 2222)


def test_demo_uri_points_at_shipped_xml() -> None:
    uri = demo_uri()
    assert uri.startswith("test:///") and uri.endswith("demo.xml")
    conn = open_connection(uri)
    try:
        states = {d.name(): d.state()[0] for d in conn.listAllDomains()}
    finally:
        conn.close()
    assert states["web-frontend"] == 1 and states["build-runner"] == 3 and states["archive"] == 5


def test_unreachable_daemon_says_which_uri_and_fix() -> None:
    uri = "qemu:///system?socket=/nonexistent/libvirt-sock"
    with pytest.raises(ConnectFailed) as err:
        open_connection(uri)
    msg = str(err.value)
    assert uri in msg
    assert "libvirtd is not running" in msg and "--demo" in msg
    assert err.value.error  # libvirt's own text is kept
    assert err.value.failure.cause is FailureCause.DAEMON_DOWN
    assert err.value.hint == err.value.failure.fix


def test_link_types_live_in_the_model_and_old_imports_still_work() -> None:
    assert connection.LinkState is tui.model.link.LinkState
    assert connection.LinkReport is tui.model.link.LinkReport
    assert connection.LinkFailure is tui.model.link.LinkFailure
    report = connection.LinkReport("qemu:///system", connection.LinkState.DOWN, "x", 0)
    assert report.failure is None


def test_no_answer_names_the_uri_and_the_deadline() -> None:
    f = no_answer("qemu+ssh://h/system", 10.0)
    assert f.cause is FailureCause.NO_ANSWER and f.retry
    assert f.summary == "no answer from qemu+ssh://h/system after 10 s"
    assert f.text().startswith(f.summary + ". ")
    assert no_answer(None, 2.5).summary == "no answer from libvirt default after 2.5 s"


RESET = ": Connection reset by peer"
# (uri, libvirt's message, code, domain, expected cause, words the summary or fix must hold)
MEASURED = [
    (
        "foo:///bar",
        "no connection driver available for foo:///bar",
        5,
        0,
        FailureCause.INVALID_URI,
        ["foo:///bar"],
    ),
    (
        "qemu:///bogus",
        "internal error: unexpected qemu URI path '/bogus', try qemu:///system",
        1,
        0,
        FailureCause.INVALID_URI,
        [],
    ),
    (
        "qemu+ssh://root@nonexistent.invalid/system",
        "Cannot recv data: ssh: Could not resolve hostname nonexistent.invalid: Name or service "
        "not known" + RESET,
        38,
        7,
        FailureCause.SSH_UNREACHABLE,
        ["nonexistent.invalid", "DNS"],
    ),
    (
        "qemu+tcp://nonexistent.invalid/system",
        "Unable to resolve address 'nonexistent.invalid' service '16509': Name or service not known",
        38,
        7,
        FailureCause.SSH_UNREACHABLE,
        ["DNS"],
    ),
    (
        "qemu+ssh://root@198.51.100.7/system",
        "Cannot recv data: ssh: connect to host 198.51.100.7 port 22: No route to host" + RESET,
        38,
        7,
        FailureCause.SSH_UNREACHABLE,
        ["no route to host"],
    ),
    (
        "qemu+tcp://198.51.100.7/system",
        "unable to connect to server at '198.51.100.7:16509': No route to host",
        38,
        7,
        FailureCause.SSH_UNREACHABLE,
        ["no route to host"],
    ),
    (  # OpenSSH's wording; a timeout cannot be produced on this VM's network
        "qemu+ssh://root@h/system",
        "Cannot recv data: ssh: connect to host h port 22: Connection timed out" + RESET,
        38,
        7,
        FailureCause.SSH_UNREACHABLE,
        ["timed out"],
    ),
    (
        "qemu+ssh://root@127.0.0.1:2222/system",
        "Cannot recv data: Warning: Identity file /nonexistent/key not accessible: No such file or "
        "directory.\nWarning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known "
        "hosts.\r\nroot@127.0.0.1: Permission denied (publickey)." + RESET,
        38,
        7,
        FailureCause.SSH_AUTH,
        ["key or an agent"],
    ),
    (
        "qemu+libssh2://root@127.0.0.1:2222/system",
        "authentication failed: !!! SSH HOST KEY VERIFICATION FAILED !!!: Identity of host "
        "'127.0.0.1:2222' differs from stored identity. The key is stored in '/tmp/kh'.",
        45,
        50,
        FailureCause.SSH_HOST_KEY,
        ["has changed", "ssh-keygen -f /tmp/kh"],
    ),
    (
        "qemu+libssh2://root@127.0.0.1:2222/system",
        "SSH transport error: No user interaction callback provided: Can't verify the session host "
        "key",
        85,
        50,
        FailureCause.SSH_HOST_KEY,
        ["not known"],
    ),
    (
        "qemu+libssh2://root@127.0.0.1:2222/system",
        "authentication failed: authentication with private key '/k' has failed: Username/PublicKey "
        "combination invalid",
        45,
        50,
        FailureCause.SSH_AUTH,
        ["key or an agent"],
    ),
    (
        "qemu+libssh://root@127.0.0.1:2222/system",
        "libssh transport error: failed to authenticate: Access denied for 'publickey'. "
        "Authentication that can continue: publickey",
        98,
        66,
        FailureCause.SSH_AUTH,
        [],
    ),
    (
        "qemu+libssh://root@127.0.0.1:1/system",
        "unable to connect to server at '127.0.0.1:1': Connection refused",
        38,
        7,
        FailureCause.SSH_REFUSED,
        ["127.0.0.1:1"],
    ),
    (  # virt-ssh-helper's path, as the local case measured with user nobody
        "qemu+ssh://bob@h/system",
        "End of file while reading data: virt-ssh-helper: cannot connect to 'qemu:///system': "
        "Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied: "
        "Input/output error",
        38,
        7,
        FailureCause.SOCKET_PERMISSION,
        ["user bob", "on h", "usermod -aG libvirt bob"],
    ),
    (
        "qemu+ssh://root@h/system",
        "End of file while reading data: virt-ssh-helper: cannot connect to 'qemu:///system': "
        "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory: "
        "Input/output error",
        38,
        7,
        FailureCause.DAEMON_DOWN,
        ["not running on h"],
    ),
    (
        "qemu+tcp://127.0.0.1:5/system",
        "End of file while reading data: Input/output error",
        38,
        7,
        FailureCause.LOST,
        ["dropped"],
    ),
    (
        "qemu+ssh://root@127.0.0.1:5/system",
        "Cannot recv data: kex_exchange_identification: Connection closed by remote host\r\n"
        "Connection closed by 127.0.0.1 port 5" + RESET,
        38,
        7,
        FailureCause.LOST,
        ["handshake"],
    ),
    (
        "qemu+ssh://root@h/system?socket=/x",
        "End of file while reading data: sh: 1: nc: not found: Input/output error",
        38,
        7,
        FailureCause.OTHER,
        ["netcat"],
    ),
    (  # libvirt's keepalive wording (src/rpc/virkeepalive.c), after the link went quiet
        "qemu+tcp://h/system",
        "internal error: connection closed due to keepalive timeout",
        1,
        7,
        FailureCause.NO_ANSWER,
        ["no answer from qemu+tcp://h/system"],
    ),
]


@pytest.mark.parametrize(("uri", "message", "code", "domain", "cause", "words"), MEASURED)
def test_classifier_on_measured_messages(
    uri: str, message: str, code: int, domain: int, cause: FailureCause, words: list[str]
) -> None:
    f = classify_failure(uri, message, code, domain)
    assert f.cause is cause, f
    assert f.retry is (cause is not FailureCause.INVALID_URI)
    for w in words:
        assert w in f.text(), (w, f.text())
    assert "\n" not in f.text() and "@@@" not in f.detail
    # Without the code and domain (text only) the cause is the same.
    assert classify_failure(uri, message).cause is cause


def test_the_classifiers_error_numbers_are_libvirts() -> None:
    import libvirt

    from tui.adapters.libvirt import failures

    for name in (
        "NO_CONNECT",
        "INVALID_ARG",
        "AUTH_FAILED",
        "AUTH_CANCELLED",
        "AUTH_UNAVAILABLE",
        "OPERATION_TIMEOUT",
    ):
        assert getattr(failures, f"ERR_{name}") == getattr(libvirt, f"VIR_ERR_{name}"), name
    assert failures.ERR_XML == libvirt.VIR_ERR_XML_ERROR
    for name in ("TEST", "REMOTE", "URI", "DBUS", "SSH", "LIBSSH"):
        assert getattr(failures, f"FROM_{name}") == getattr(libvirt, f"VIR_FROM_{name}"), name
