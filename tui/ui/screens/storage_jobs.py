"""The storage screen's long and guest-facing jobs: an upload from this machine into a pool
(progress with rate and time left from the upload's thread, ``c`` cancels between chunks and
the half-made volume is deleted), and CD-ROM media (insert the selected volume into a guest's
drive, eject one), as a mixin of :class:`tui.ui.screens.storage.StorageScreen`."""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from tui.model.storage import CdromDrive, Pool, Progress, Volume, human_size, name_problem
from tui.ui.screens.hostops import ChoiceDialog, Field, FormDialog

if TYPE_CHECKING:
    from tui.core.ports import StorageOps
    from tui.ui.screens.resourcelist import ResourceListScreen

    _Base = ResourceListScreen[StorageOps, Pool, Volume]
else:
    _Base = object


class StorageJobs(_Base):
    """Needs of the screen: ``_active_pool``, ``_volume_for`` (and ResourceListScreen)."""

    _cancel: threading.Event | None
    _progress: tuple[int, int]
    _upload_started: float

    def _active_pool(self, action_id: str) -> Pool | None:
        raise NotImplementedError

    def _volume_for(self, action_id: str) -> Volume | None:
        raise NotImplementedError

    # -- uploads ---------------------------------------------------------------------------
    def action_volume_upload(self) -> None:
        pool = self._active_pool("storage.upload")
        if pool is None:
            return
        taken = [v.name for v in self.details]  # the pool's volumes

        def check(v: dict[str, str]) -> str:
            path = os.path.expanduser(v["file"])
            if not path:
                return "type the path of an ISO or image file on this machine"
            if not os.path.isfile(path):
                return f"{path} is not a file here: type the path of an ISO or image"
            return name_problem(v["name"] or os.path.basename(path), taken)

        def chosen(v: dict[str, str] | None) -> None:
            if v is not None:
                path = os.path.expanduser(v["file"])
                self.start_upload(pool.name, v["name"] or os.path.basename(path), path)

        fields = [
            Field("file", "File on this machine (ISO or image)", placeholder="/path/to/debian.iso"),
            Field("name", "Volume name (empty: the file's name)"),
        ]
        free = human_size(pool.available)
        self.app.push_screen(
            FormDialog(f"Upload into {pool.name} ({free} free)", fields, check), chosen
        )

    def start_upload(self, pool: str, name: str, path: str) -> None:
        cancel = threading.Event()
        self._cancel, self._progress = cancel, (0, 0)
        self._upload_started = time.monotonic()

        def progress(done: int, total: int) -> None:  # the upload's thread: one tuple, no UI
            self._progress = (done, total)

        def finished(message: str) -> None:
            self._cancel = None
            self.said(message)

        started = self.submit(
            f"upload {name}",
            lambda o: o.upload(pool, name, path, progress, cancel.is_set),
            finished,
            busy=f"uploading {os.path.basename(path)} to {pool} as {name}",
        )
        if not started:
            self._cancel = None

    def upload_progress(self) -> Progress | None:
        if self._cancel is None:
            return None
        done, total = self._progress
        return Progress(done, total, time.monotonic() - self._upload_started)

    def busy_text(self, spent: float) -> str:
        got = self.upload_progress()
        if got is None:
            return super().busy_text(spent)
        if self._cancel is not None and self._cancel.is_set():
            return f"{self.busy}: cancelling…"
        return f"{self.busy}: {got.describe()} (c cancels)"

    def set_busy(self, text: str) -> None:
        if not text:
            self._cancel = None
        super().set_busy(text)

    def action_cancel_upload(self) -> None:
        if self._cancel is None:
            self.app.notify("No upload under way.", severity="warning")
            return
        self._cancel.set()
        self.tick()

    # -- CD-ROM media ----------------------------------------------------------------------
    def action_media_insert(self) -> None:
        vol = self._volume_for("storage.insert")
        if vol is None:
            return
        path = vol.path

        def pick(drives: tuple[CdromDrive, ...]) -> None:
            if not drives:
                self.app.notify("No guest here has a CD-ROM drive.", severity="warning")
                return
            lines = [f"{d.describe()} ({'running' if d.running else 'shut off'})" for d in drives]

            def chosen(i: int | None) -> None:
                if i is not None:
                    d = drives[i]
                    self.mutate(
                        f"insert into {d.guest}",
                        f"inserting {vol.name} into {d.guest} {d.target}",
                        lambda o: o.insert_media(d.uuid, d.target, path),
                    )

            self.app.push_screen(
                ChoiceDialog(f"Insert {vol.name} into which CD-ROM drive?", lines), chosen
            )

        self.submit("CD-ROM drives", lambda o: o.cdroms(), pick)

    def action_media_eject(self) -> None:
        if not self.ready("storage.eject"):
            return

        def pick(drives: tuple[CdromDrive, ...]) -> None:
            loaded = [d for d in drives if d.source]
            if not loaded:
                self.app.notify("No CD-ROM drive here holds a medium.", severity="warning")
                return
            lines = [f"{d.describe()} ({'running' if d.running else 'shut off'})" for d in loaded]

            def chosen(i: int | None) -> None:
                if i is not None:
                    d = loaded[i]
                    self.mutate(
                        f"eject {d.guest}",
                        f"ejecting {d.guest} {d.target}",
                        lambda o: o.eject_media(d.uuid, d.target),
                    )

            self.app.push_screen(
                ChoiceDialog("Eject the medium of which CD-ROM drive?", lines), chosen
            )

        self.submit("CD-ROM drives", lambda o: o.cdroms(), pick)
