"""A host's storage (``S``): its pools (state, autostart, capacity, allocation, available) and
the volumes of the pool under the cursor (size, allocation, format, the guests that use each).

Pools: start, stop (asks first; refused while running guests use it), autostart, a new
directory pool. Volumes: new, grow, delete (asks first; refused while a guest uses it, naming
it), upload a file from this machine (progress with rate and time left; ``c`` cancels and the
half-made volume is deleted), insert the volume into a guest's CD-ROM drive, eject one.
Everything goes through the host's ``storage`` family (``tui.core.ports.StorageOps``) on the
runner: libvirt's APIs only, so a ``qemu+ssh://`` host works the same.
"""

from __future__ import annotations

import threading

from rich.text import Text

from tui.core.ports import HostCapabilities, StorageOps
from tui.model.ids import HostId
from tui.model.storage import (
    VOLUME_FORMATS,
    Pool,
    Volume,
    human_size,
    name_problem,
    parse_size,
)
from tui.ui import actions
from tui.ui.screens.hostops import Cell, Field, FormDialog, plain, row_key
from tui.ui.screens.resourcelist import ResourceListScreen, Rows
from tui.ui.screens.storage_jobs import StorageJobs

NO_POOLS = "No storage pools on this host: P makes a directory pool."


def pool_cells(p: Pool) -> list[Cell]:

    def size(n: int) -> str:
        return human_size(n) if p.active else "-"

    state = Text(p.state, style="green" if p.active else "dim")
    return [
        plain(p.name),
        state,
        "yes" if p.autostart else "no",
        size(p.capacity),
        size(p.allocation),
        size(p.available),
        plain(p.path),
    ]


def volume_cells(v: Volume) -> list[Cell]:
    users = plain(v.users_text() or "-")
    if v.in_use:
        users.stylize("bold")
    return [
        plain(v.name),
        human_size(v.capacity),
        human_size(v.allocation),
        plain(v.format or "?"),
        users,
    ]


class StorageScreen(StorageJobs, ResourceListScreen[StorageOps, Pool, Volume]):
    BINDINGS = actions.bindings("storage")
    TITLE_WHAT = "Storage"
    NOUN, MAIN_WHAT, DETAIL_WHAT = "pool", "storage pools", "volumes"
    MAIN_ID, DETAIL_TITLE_ID, DETAIL_ID = "st-pools", "st-vol-title", "st-vols"
    MAIN_COLUMNS = ("Pool", "State", "Auto", "Capacity", "Alloc", "Available", "Path")
    DETAIL_COLUMNS = ("Volume", "Size", "Alloc", "Format", "Used by")
    DETAIL_TITLE, EMPTY = "Volumes", NO_POOLS

    def __init__(self, host: HostId, host_label: str) -> None:
        super().__init__(host, host_label)
        self._cancel: threading.Event | None = None
        self._progress = (0, 0)  # (done, total), written by the upload's thread
        self._upload_started = 0.0

    def family(self, caps: HostCapabilities) -> StorageOps | None:
        return caps.storage

    # -- the lists -----------------------------------------------------------------------
    def read_main(self, ops: StorageOps) -> tuple[Pool, ...]:
        return ops.pools()

    def read_detail(self, ops: StorageOps, name: str) -> tuple[Volume, ...]:
        return ops.volumes(name)

    def main_rows(self, items: tuple[Pool, ...]) -> Rows:
        return [(p.name, pool_cells(p)) for p in items]

    def detail_rows(self, details: tuple[Volume, ...]) -> Rows:
        return [(v.name, volume_cells(v)) for v in details]

    def detail_title(self, current: Pool, n: int) -> Text:
        if not current.active:
            return plain(f"Pool {current.name} is {current.state}: s starts it")
        return plain(f"Volumes of {current.name}: {n} volume{'' if n == 1 else 's'}")

    def selected_volume(self) -> Volume | None:
        name = row_key(self.detail_table)
        return next((v for v in self.details if v.name == name), None)

    # -- pools ---------------------------------------------------------------------------
    def action_pool_start(self) -> None:
        self.start_selected("storage.pool_start", lambda o, name: o.start_pool(name))

    def action_pool_stop(self) -> None:
        pool = self.selected_for("storage.pool_stop")
        if pool is None:
            return
        running = [u.describe() for v in self.details for u in v.users if u.running]
        if pool.name == self.details_of and running:  # said before asking; the adapter checks too
            actions.say_refused(
                self.deck,
                "storage.pool_stop",
                f"storage pool {pool.name} holds disks of running guests ({', '.join(running)}):"
                " shut them down first",
            )
            return
        self.stop_asking(
            pool,
            f"Stop storage pool {pool.name}? Its volumes cannot be used until it starts again.",
            lambda o, name: o.stop_pool(name),
        )

    def action_pool_autostart(self) -> None:
        self.toggle_autostart(
            "storage.pool_autostart", lambda o, name, on: o.set_pool_autostart(name, on)
        )

    def action_pool_new(self) -> None:
        if not self.ready("storage.pool_new"):
            return
        taken = [p.name for p in self.items]

        def check(v: dict[str, str]) -> str:
            problem = name_problem(v["name"], taken, "pool")
            if problem:
                return problem
            if not v["path"].startswith("/"):
                return "the directory must be an absolute path, e.g. /var/lib/libvirt/pool1"
            return ""

        def chosen(v: dict[str, str] | None) -> None:
            if v is not None:
                name, path = v["name"], v["path"]
                self.mutate(
                    f"new pool {name}",
                    f"creating pool {name}",
                    lambda o: o.create_dir_pool(name, path),
                )

        fields = [
            Field("name", "Pool name", placeholder="e.g. fast"),
            Field(
                "path",
                "Directory on the host (made if missing)",
                placeholder="/var/lib/libvirt/fast",
            ),
        ]
        self.app.push_screen(
            FormDialog(f"New directory pool on {self.host_label}", fields, check), chosen
        )

    # -- volumes -------------------------------------------------------------------------
    def _active_pool(self, action_id: str) -> Pool | None:
        pool = self.selected_for(action_id)
        if pool is not None and not pool.active:
            actions.say_refused(
                self.deck, action_id, f"pool {pool.name} is {pool.state}: s starts it"
            )
            return None
        return pool

    def _volume_for(self, action_id: str) -> Volume | None:
        if not self.ready(action_id):
            return None
        vol = self.selected_volume()
        if vol is None:
            self.app.notify("No volume selected.", severity="warning")
        return vol

    def action_volume_new(self) -> None:
        pool = self._active_pool("storage.volume_new")
        if pool is None:
            return
        taken = [v.name for v in self.details]  # the pool's volumes

        def check(v: dict[str, str]) -> str:
            problem = name_problem(v["name"], taken)
            if problem:
                return problem
            try:
                parse_size(v["size"])
            except ValueError as exc:
                return str(exc)
            return ""

        def chosen(v: dict[str, str] | None) -> None:
            if v is None:
                return
            name, size, fmt, where = v["name"], parse_size(v["size"]), v["option"], pool.name
            self.mutate(
                f"new volume {name}",
                f"creating volume {name}",
                lambda o: o.create_volume(where, name, size, fmt),
            )

        fields = [
            Field("name", "Volume name", placeholder="e.g. data.qcow2"),
            Field("size", "Size (10G, 512M)", value="10G"),
        ]
        free = human_size(pool.available)
        dialog = FormDialog(
            f"New volume in {pool.name} ({free} free)",
            fields,
            check,
            option=("Format", VOLUME_FORMATS),
        )
        self.app.push_screen(dialog, chosen)

    def action_volume_resize(self) -> None:
        vol = self._volume_for("storage.volume_resize")
        if vol is None:
            return

        def check(v: dict[str, str]) -> str:
            try:
                size = parse_size(v["size"])
            except ValueError as exc:
                return str(exc)
            if size < vol.capacity:
                return f"{vol.name} is {human_size(vol.capacity)}: volumes only grow here"
            return ""

        def chosen(v: dict[str, str] | None) -> None:
            if v is None:
                return
            pool, name, size = vol.pool, vol.name, parse_size(v["size"])
            self.mutate(
                f"resize {name}", f"resizing {name}", lambda o: o.resize_volume(pool, name, size)
            )

        fields = [
            Field(
                "size",
                "New size (10G, 512M)",
                value=human_size(vol.capacity).replace(" ", "").replace("iB", ""),
            )
        ]
        self.app.push_screen(
            FormDialog(f"Grow volume {vol.name} (now {human_size(vol.capacity)})", fields, check),
            chosen,
        )

    def action_volume_delete(self) -> None:
        vol = self._volume_for("storage.volume_delete")
        if vol is None:
            return
        if vol.in_use:  # said now; the adapter checks again before it deletes
            actions.say_refused(
                self.deck,
                "storage.volume_delete",
                f"volume {vol.name} is used by {vol.users_text()}: remove the disk from the"
                " guest first",
            )
            return
        pool, name = vol.pool, vol.name
        self.ask(
            f"Delete volume {name} from pool {pool} ({human_size(vol.capacity)})? Its data is"
            " lost.",
            "Delete",
            lambda: self.mutate(
                f"delete {name}", f"deleting {name}", lambda o: o.delete_volume(pool, name)
            ),
        )
