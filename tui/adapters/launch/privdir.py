"""kvmdeck's private directory (``.vv`` files, viewer and tunnel logs) and the sweep of stale ones.

Each kvmdeck process makes its own directory, ``kvmdeck-<pid>-XXXXXXXX`` (mode 0700, from
``mkdtemp``), under ``$XDG_RUNTIME_DIR/kvmdeck`` (0700) when that is usable, else under the
system temp dir. An ``owner`` file inside holds ``<pid> <start time>`` (``/proc/<pid>/stat``
field 22), so a pid reused by another program is not taken for a live kvmdeck.

A kvmdeck killed by ``kill -9`` leaves its directory behind (and maybe a ``.vv`` holding a
display password). :func:`sweep_stale` removes such directories at the next start: only
directories owned by this uid, named ``kvmdeck-<pid>-…``, whose owner process is gone.
A live owner's directory is never touched. This module imports nothing heavy (no libvirt).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "kvmdeck-"
OWNER_FILE = "owner"
_NAME = re.compile(r"^kvmdeck-(?P<pid>[1-9][0-9]{0,9})-[A-Za-z0-9_]+$")


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat`` (clock ticks since boot), or None if there is no such pid."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def _zombie(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    rest = data[data.rfind(b")") + 2 :]
    return rest[:1] in (b"Z", b"X")


def base_dirs(env: Mapping[str, str]) -> list[Path]:
    """Where private directories are made (the first usable) and swept (all of them)."""
    out: list[Path] = []
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        out.append(Path(runtime) / "kvmdeck")
    out.append(Path(tempfile.gettempdir()))
    return out


def _runtime_base(path: Path) -> Path | None:
    """``$XDG_RUNTIME_DIR/kvmdeck``: created 0700, refused unless a real directory of ours."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    try:
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return None
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def make_private_dir(env: Mapping[str, str]) -> Path:
    """A new ``kvmdeck-<pid>-XXXXXXXX`` directory (0700) with its ``owner`` file."""
    pid = os.getpid()
    parent: Path | None = None
    bases = base_dirs(env)
    if len(bases) > 1:
        parent = _runtime_base(bases[0])
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-", dir=parent or bases[-1]))
    os.chmod(path, 0o700)  # mkdtemp makes it 0700; say so whatever the umask
    owner = path / OWNER_FILE
    fd = os.open(owner, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"{pid} {_start_time(pid) or '?'}\n")
    return path


def owner_alive(path: Path) -> bool:
    """True while the kvmdeck that made ``path`` runs (or when that cannot be ruled out)."""
    m = _NAME.match(path.name)
    if m is None:
        return True  # not ours to judge
    pid = int(m.group("pid"))
    started = _start_time(pid)
    if started is None or _zombie(pid):
        return False
    try:
        recorded = (path / OWNER_FILE).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return True  # the pid runs and the directory may be brand new: leave it
    # False when the pid was reused by a later process (another start time than recorded).
    return not (
        len(recorded) == 2 and recorded[0] == str(pid) and recorded[1] not in ("?", started)
    )


@dataclass
class SweepResult:
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # live owners
    seconds: float = 0.0


def own_dirs(bases: Iterable[Path], name: re.Pattern[str]) -> Iterator[tuple[Path, int]]:
    """(path, pid) of each directory in ``bases`` whose name matches ``name`` (a ``pid``
    group) and that this uid owns, never through a symlink; unreadable bases and entries that
    vanish are passed over. The sweeps' common walk (this module's and :mod:`.sockdir`'s)."""
    uid = os.getuid()
    for base in bases:
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            m = name.match(entry.name)
            if m is None:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
                yield Path(entry.path), int(m.group("pid"))


def sweep_stale(env: Mapping[str, str], bases: list[Path] | None = None) -> SweepResult:
    """Remove private directories left by kvmdeck processes that are gone (``kill -9``).

    Only directories named ``kvmdeck-<pid>-…`` owned by this uid; never this process's own,
    never a live owner's. Errors are ignored (another kvmdeck may be sweeping too).
    """
    t0 = time.perf_counter()
    result = SweepResult()
    me = os.getpid()
    for path, pid in own_dirs(bases if bases is not None else base_dirs(env), _NAME):
        if pid == me:
            continue
        if owner_alive(path):
            result.kept.append(path)
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            result.removed.append(path)
    result.seconds = time.perf_counter() - t0
    return result
