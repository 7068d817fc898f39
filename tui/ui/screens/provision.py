"""Bringing guests into being (issue 21): the create form, and the clone, delete and edit dialogs.

Every host call goes through the host's ``Provisioning`` family on ``app.runner`` (daemon
threads), never on the UI's thread. Long work (a copy, an upload, a clone) runs as a
:class:`tui.core.jobs.Job`: the dialog shows its progress (bytes, rate, time left) from a
timer, and Esc cancels it; the adapter then removes what it made and says so. Names, paths
and messages from the host are plain text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from tui.core.ports import BackendError
from tui.model.jobs import human_bytes
from tui.model.provision import (
    FIRMWARE_BIOS,
    FIRMWARE_UEFI,
    NET_AUTO,
    NET_NONE,
    NET_USER,
    SOURCE_CLOUD,
    SOURCE_EMPTY,
    SOURCE_IMPORT,
    SOURCE_ISO,
    SOURCE_TITLES,
    CloudInit,
    Created,
    CreateOffer,
    GuestSpec,
    SpecRefused,
    name_problem,
)
from tui.ui import actions
from tui.ui.deck import deck_of
from tui.ui.widgets.footer import KeysFooter

if TYPE_CHECKING:
    from tui.core.ports import NetworkOps, Provisioning, StorageOps


from tui.ui.screens.job_dialog import _JobDialog, _row, parse_gib, parse_int, plain

# -- create -------------------------------------------------------------------------------------


class CreateScreen(_JobDialog[Created]):
    """The create form. Only a name is needed: every other field starts at its default
    (osinfo's recommendation, the default pool, the default network when it runs, else user
    networking; an empty disk). Enter in a text field or Ctrl+S creates; the problems come
    back naming their fields."""

    BINDINGS = actions.bindings("create")
    DEFAULT_CSS = """
    CreateScreen { align: center middle; }
    CreateScreen > Vertical {
        width: 100%; max-width: 84; height: 100%; max-height: 40;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    CreateScreen #c-title { height: 1; }
    CreateScreen VerticalScroll { height: 1fr; }
    CreateScreen .c-row { height: auto; margin-bottom: 0; }
    CreateScreen .c-label { width: 11; padding: 0 1 0 0; }
    CreateScreen .c-row Input, CreateScreen .c-row Select { width: 1fr; }
    CreateScreen Input {
        border: none; height: 1; padding: 0 1; background: $boost;
    }
    CreateScreen Input:focus { border: none; background: $primary 35%; }
    CreateScreen SelectCurrent { border: none; height: 1; padding: 0 1; background: $boost; }
    CreateScreen Select:focus > SelectCurrent { background: $primary 35%; }
    CreateScreen .c-row, CreateScreen .c-checks { padding-bottom: 0; }
    CreateScreen .c-checks { height: auto; }
    CreateScreen Checkbox { border: none; padding: 0 1; height: 1; }
    CreateScreen Checkbox:focus { background: $primary 35%; }
    CreateScreen .c-checks Checkbox { width: auto; }
    CreateScreen #c-note { color: $text-muted; height: auto; }
    CreateScreen #c-problem { color: $error; height: auto; }
    CreateScreen #p-progress { color: $warning; height: auto; }
    CreateScreen .cloud, CreateScreen .image, CreateScreen .iso { display: none; }
    CreateScreen.src-cloud .cloud, CreateScreen.src-cloud .image { display: block; }
    CreateScreen.src-import .image, CreateScreen.src-iso .iso { display: block; }
    CreateScreen #c-buttons { height: auto; align: right middle; }
    """

    def __init__(
        self, ops: Provisioning, storage: StorageOps, networks: NetworkOps, host_label: str
    ) -> None:
        super().__init__()
        self.ops, self.storage, self.networks = ops, storage, networks
        self.host_label = host_label
        self.choices: CreateOffer | None = None
        self.keys: tuple[str, ...] = ()
        self.created: Created | None = None  # tests read it
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(f"Create a new guest on {self.host_label}"), id="c-title")
            with VerticalScroll(id="c-scroll"):
                yield _row("Name", Input(placeholder="the guest's name (required)", id="c-name"))
                src = [(t, k) for k, t in SOURCE_TITLES.items()]
                yield _row(
                    "Source", Select(src, value=SOURCE_EMPTY, allow_blank=False, id="c-source")
                )
                yield _row(
                    "Image",
                    Input(placeholder="/path/image.qcow2 or POOL/VOLUME", id="c-image"),
                    "image",
                )
                yield _row(
                    "",
                    Checkbox("linked overlay (else a full copy)", value=True, id="c-linked"),
                    "cloud",
                )
                yield _row(
                    "ISO",
                    Input(placeholder="/path/installer.iso or POOL/VOLUME", id="c-iso"),
                    "iso",
                )
                yield _row(
                    "OS",
                    Input(placeholder="osinfo id, e.g. debian11 (empty: generic Linux)", id="c-os"),
                )
                yield _row("vCPUs", Input(placeholder="default", id="c-vcpus"))
                yield _row("Memory MiB", Input(placeholder="default", id="c-memory"))
                yield _row("Disk GiB", Input(placeholder="default", id="c-disk"))
                yield _row(
                    "Pool",
                    Select([("reading…", "?")], value="?", allow_blank=False, id="c-pool"),
                )
                yield _row(
                    "Format",
                    Select(
                        [("qcow2", "qcow2"), ("raw", "raw")],
                        value="qcow2",
                        allow_blank=False,
                        id="c-format",
                    ),
                )
                yield _row(
                    "Network",
                    Select([("reading…", "?")], value="?", allow_blank=False, id="c-network"),
                )
                yield _row(
                    "Bridge", Input(placeholder="a host bridge (Network: bridge)", id="c-bridge")
                )
                yield _row(
                    "Firmware",
                    Select(
                        [("reading…", "?")],
                        value="?",
                        allow_blank=False,
                        id="c-firmware",
                    ),
                )
                yield _row(
                    "Accel", Select([("reading…", "?")], value="?", allow_blank=False, id="c-accel")
                )
                yield _row(
                    "Hostname",
                    Input(placeholder="cloud-init (empty: the name)", id="c-hostname"),
                    "cloud",
                )
                yield _row(
                    "User",
                    Input(placeholder="cloud-init user (empty: the image's)", id="c-user"),
                    "cloud",
                )
                yield _row(
                    "SSH key",
                    Select([("reading…", "?")], value="?", allow_blank=False, id="c-key"),
                    "cloud",
                )
                yield _row(
                    "Password",
                    Input(placeholder="optional", password=True, id="c-password"),
                    "cloud",
                )
                with Horizontal(classes="c-checks"):
                    yield Checkbox("SPICE-ready", value=True, id="c-spice")
                    yield Checkbox("start when created", value=True, id="c-start")
                yield Static("reading the host's pools and networks…", id="c-note")
            yield Static("", id="c-problem")
            yield from self._progress_widgets()
            with Horizontal(id="c-buttons"):
                yield Button("Cancel (Esc)", id="c-cancel")
                yield Button("Create (Ctrl+S)", id="c-create", variant="primary")
        yield KeysFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#c-name", Input).focus()
        self._load()

    def _load(self) -> None:
        runner = deck_of(self).runner
        if runner is None:
            return
        ops, storage, networks = self.ops, self.storage, self.networks

        def read() -> tuple[CreateOffer, tuple[str, ...], list[str]]:
            # the pools and networks as the storage and networks families list them
            offer = CreateOffer.of(ops.choices(), storage.pools(), networks.networks())
            return offer, ops.operator_keys(), [o.short_id for o in ops.os_list()]

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, BackendError):
                return False
            self.query_one("#c-note", Static).update(plain(exc.message))
            return True

        runner.submit("create form: choices", read, done=self._fill, failed=failed)

    def _fill(self, got: tuple[CreateOffer, tuple[str, ...], list[str]]) -> None:
        ch, keys, os_ids = got
        host = ch.host
        # osinfo's ids complete as they are typed (→ takes the suggestion)
        self.query_one("#c-os", Input).suggester = SuggestFromList(os_ids, case_sensitive=False)
        self.choices, self.keys = ch, keys
        pools = [(self._pool_label(p.name, p.active, p.available), p.name) for p in ch.pools]
        if ch.default_pool_missing:
            pools.insert(0, ("default (missing: Ctrl+B creates it)", "default"))
        self.query_one("#c-pool", Select).set_options(pools)
        self.query_one("#c-pool", Select).value = pools[0][1] if pools else "default"
        auto = ch.default_network()
        nets: list[tuple[str, str]] = [(f"automatic ({self._net_label(auto)})", NET_AUTO)]
        nets += [
            (f"network {n.name}" + ("" if n.active else " (inactive)"), f"network:{n.name}")
            for n in ch.networks
        ]
        nets += [
            ("user networking (QEMU)", NET_USER),
            ("bridge (below)", "bridge"),
            ("none", NET_NONE),
        ]
        self.query_one("#c-network", Select).set_options(nets)
        self.query_one("#c-network", Select).value = NET_AUTO
        fw = [("BIOS", FIRMWARE_BIOS)] + ([("UEFI (OVMF)", FIRMWARE_UEFI)] if host.uefi else [])
        self.query_one("#c-firmware", Select).set_options(fw)
        self.query_one("#c-firmware", Select).value = FIRMWARE_BIOS
        accel = [(f"automatic ({host.virt_types[0]})", "")] + [
            ("KVM" if t == "kvm" else "TCG (emulated)" if t == "qemu" else t, t)
            for t in host.virt_types
        ]
        self.query_one("#c-accel", Select).set_options(accel)
        self.query_one("#c-accel", Select).value = ""
        key_opts = [(self._key_label(k), k) for k in keys] + [("none", "")]
        self.query_one("#c-key", Select).set_options(key_opts)
        self.query_one("#c-key", Select).value = key_opts[0][1]
        note = (
            f"Host: {host.host_cpus} CPUs, {host.host_memory_mib} MiB. Empty fields take the OS's"
            " recommendation (osinfo)."
        )
        if ch.default_pool_missing:
            note += " There is no default pool: Ctrl+B creates it at /var/lib/libvirt/images."
        self.query_one("#c-note", Static).update(plain(note))
        self.loaded = True

    @staticmethod
    def _pool_label(name: str, active: bool, avail: int) -> str:
        return f"{name} ({human_bytes(avail)} free)" if active else f"{name} (inactive)"

    @staticmethod
    def _net_label(net: str) -> str:
        return "user networking" if net == NET_USER else net.replace(":", " ")

    @staticmethod
    def _key_label(key: str) -> str:
        parts = key.split()
        comment = " ".join(parts[2:]) if len(parts) > 2 else ""
        return f"{parts[0] if parts else '?'} {comment}".strip()[:60]

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "c-source":
            for s in (SOURCE_EMPTY, SOURCE_CLOUD, SOURCE_ISO, SOURCE_IMPORT):
                self.set_class(event.value == s, f"src-{s}")

    # -- submit ------------------------------------------------------------------------------
    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "c-create":
            self.action_submit()
        else:
            self.action_cancel()

    def _value(self, wid: str) -> str:
        return self.query_one(f"#{wid}", Input).value

    def _select(self, wid: str) -> str:
        v = self.query_one(f"#{wid}", Select).value
        return v if isinstance(v, str) and v != "?" else ""  # "?": not read yet

    def spec(self) -> GuestSpec:
        """The form as a GuestSpec; ValueError names the field of a malformed number."""
        name = self._value("c-name").strip()
        network = self._select("c-network")
        if network == "bridge":
            bridge = self._value("c-bridge").strip()
            if not bridge:
                raise ValueError("Bridge: name the host bridge (e.g. br0)")
            network = f"bridge:{bridge}"
        key = self._select("c-key")
        return GuestSpec(
            name=name,
            os_id=self._value("c-os").strip(),
            vcpus=parse_int(self._value("c-vcpus"), "vCPUs"),
            memory_mib=parse_int(self._value("c-memory"), "Memory"),
            disk_bytes=parse_gib(self._value("c-disk")),
            pool=self._select("c-pool") or "default",
            disk_format=self._select("c-format") or "qcow2",
            network=network,
            firmware=self._select("c-firmware") or FIRMWARE_BIOS,
            source=self._select("c-source") or SOURCE_EMPTY,
            image=self._value("c-image").strip(),
            linked=self.query_one("#c-linked", Checkbox).value,
            iso=self._value("c-iso").strip(),
            cloud_init=CloudInit(
                hostname=self._value("c-hostname").strip(),
                user=self._value("c-user").strip(),
                ssh_keys=(key,) if key else (),
                password=self._value("c-password"),
            ),
            spice_ready=self.query_one("#c-spice", Checkbox).value,
            start=self.query_one("#c-start", Checkbox).value,
            virt_type=self._select("c-accel"),
        )

    def _problem(self, text: str) -> None:
        self.query_one("#c-problem", Static).update(plain(text))

    def action_submit(self) -> None:
        if self.job is not None:
            return
        if actions.refuse(deck_of(self), "guest.create"):
            return
        try:
            spec = self.spec()
        except ValueError as exc:
            self._problem(str(exc))
            return
        why = name_problem(spec.name)
        if why:
            self._problem(f"Name: {why}")
            self.query_one("#c-name", Input).focus()
            return
        self._problem("")
        ops = self.ops

        def failed(exc: BaseException) -> bool:
            if isinstance(exc, SpecRefused):
                self._problem("\n".join(p.text() for p in exc.problems))
                return True
            if isinstance(exc, BackendError):
                self._problem(exc.message)
                deck_of(self).log_event(exc.message)
                return True
            return False

        self.run_job(
            f"create {spec.name}",
            lambda progress: ops.create(spec, progress),
            self._created,
            failed,
        )

    def _created(self, got: Created) -> None:
        self.created = got
        self.app.notify(got.message, title="Create a new guest", markup=False)
        deck_of(self).log_event(got.message)
        self.dismiss(got)

    def action_default_pool(self) -> None:
        if actions.refuse(deck_of(self), "create.default_pool"):
            return
        runner = deck_of(self).runner
        if runner is None:
            return

        def done(msg: str) -> None:
            self._problem("")
            self.app.notify(msg, title="Default pool", markup=False)
            self._load()

        def failed(exc: BaseException) -> bool:
            if not isinstance(exc, BackendError):
                return False
            self._problem(exc.message)
            return True

        runner.submit("create the default pool", self.ops.ensure_default_pool, done, failed)
