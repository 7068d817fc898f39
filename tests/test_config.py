"""Config: read-only for kvmdeck, validated into typed settings, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.config import ConfigError, load_settings, rules_path
from tui.util import atomic_write_text


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "nope.toml")
    assert s.refresh == 1.0 and s.uri is None and s.hosts == () and s.path is None


def test_values_are_typed(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        'uri = "qemu:///system"\nrefresh = 2\nreadonly = true\n'
        '[[hosts]]\nuri = "qemu+ssh://root@h/system"\nname = "h"\n'
        '[keymap]\n"guest.start" = "ctrl+s"\n',
    )
    s = load_settings(p)
    assert s.uri == "qemu:///system"
    assert s.refresh == 2.0 and isinstance(s.refresh, float)
    assert s.readonly is True
    assert s.hosts[0].uri == "qemu+ssh://root@h/system" and s.hosts[0].name == "h"
    assert s.keymap == {"guest.start": "ctrl+s"}


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, 'uri = "qemu:///system"\nrefresh = = 3\n')
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    msg = str(err.value)
    assert str(p) in msg
    assert "line 2" in msg


def test_wrong_type_names_file_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, 'refresh = "fast"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    assert str(p) in str(err.value) and "'refresh'" in str(err.value)


def test_bool_is_not_a_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'refresh'"):
        load_settings(write(tmp_path, "refresh = true\n"))


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'refesh'"):
        load_settings(write(tmp_path, "refesh = 1\n"))


def test_refresh_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="outside"):
        load_settings(write(tmp_path, "refresh = 0.01\n"))


def test_bad_host_entry(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hosts\[1\]\.uri"):
        load_settings(write(tmp_path, "[[hosts]]\nname = 'x'\n"))


def test_rules_live_beside_config(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert rules_path(env) == tmp_path / "kvmdeck" / "rules.toml"


def test_atomic_write_keeps_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "rules.toml"
    target.write_text("old = 1\n")

    def boom(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new = 2\n")
    assert target.read_text() == "old = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rules.toml"]  # no temp file left behind


def test_atomic_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "d" / "rules.toml"
    atomic_write_text(target, "a = 1\n", mode=0o600)
    assert target.read_text() == "a = 1\n"
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("text", "needle"),
    [("refresh = = 3\n", "line 1"), ("readonly = 3\n", "'readonly'")],
)
def test_cli_reports_config_errors_without_traceback(
    tmp_path: Path, text: str, needle: str
) -> None:
    cfg = tmp_path / "kvmdeck"
    cfg.mkdir()
    (cfg / "config.toml").write_text(text)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    for args in ([], ["doctor"], ["stats"]):
        r = subprocess.run(
            [sys.executable, "-m", "tui", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and str(cfg / "config.toml") in r.stderr
        assert "Traceback" not in r.stderr


def test_config_is_never_written(tmp_path: Path) -> None:
    """kvmdeck reads config.toml and never writes it (its comments are the user's)."""
    cfg = tmp_path / "kvmdeck" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text("# my comment\nrefresh = 2\n")
    before = cfg.stat().st_mtime_ns
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    subprocess.run([sys.executable, "-m", "tui", "--version"], env=env, check=True, timeout=60)
    assert cfg.read_text() == "# my comment\nrefresh = 2\n"
    assert cfg.stat().st_mtime_ns == before


def test_keymap_unknown_id_names_file_id_and_close_match(tmp_path: Path) -> None:
    p = write(tmp_path, '[keymap]\n"guest.destory" = "ctrl+x"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    msg = str(err.value)
    assert str(p) in msg and "'guest.destory'" in msg and "'guest.destroy'" in msg


def test_keymap_bad_key_and_clash(tmp_path: Path) -> None:
    p = write(tmp_path, '[keymap]\n"guest.start" = "Ctrl+s"\n"guest.reboot" = "h"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    msg = str(err.value)
    assert "2 problems" in msg and '"ctrl+s"' in msg
    assert "'guest.reboot'" in msg and "'guest.shutdown'" in msg


def test_keymap_cli_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "kvmdeck"
    cfg.mkdir()
    (cfg / "config.toml").write_text('[keymap]\n"nope" = "x"\n')
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    r = subprocess.run(
        [sys.executable, "-m", "tui", "stats"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 2, r.stderr
    assert str(cfg / "config.toml") in r.stderr and "'nope'" in r.stderr
    assert "Traceback" not in r.stderr
