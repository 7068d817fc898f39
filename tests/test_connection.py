"""Connection choice (virsh's order), SSH safety, and clear errors from a real libvirt."""

from __future__ import annotations

import pytest

from tui.adapters.libvirt.connection import (
    ConnectFailed,
    choose_uris,
    demo_uri,
    is_remote,
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
