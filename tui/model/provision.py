"""Bringing guests into being (issue 21): what the create form asks for, what a host offers it,
clone, delete and edit requests, and the problems that refuse them: plain values.

Sizes: memory in MiB, disks in bytes. Names, paths and messages come from the host or the
operator: the UI shows them as plain text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tui.model.backend import BackendError
from tui.model.network import Network
from tui.model.storage import Pool

# the source of the guest's first disk
SOURCE_EMPTY = "empty"  # a new empty disk (the default: needs nothing but a name)
SOURCE_CLOUD = "cloud"  # a cloud image (linked overlay or full copy) + a cloud-init seed
SOURCE_ISO = "iso"  # an installer ISO on a CD-ROM, first in the boot order, + an empty disk
SOURCE_IMPORT = "import"  # an existing disk image, used as it is
SOURCES = (SOURCE_EMPTY, SOURCE_CLOUD, SOURCE_ISO, SOURCE_IMPORT)
SOURCE_TITLES = {
    SOURCE_EMPTY: "Empty disk",
    SOURCE_CLOUD: "Cloud image + cloud-init",
    SOURCE_ISO: "Install from an ISO",
    SOURCE_IMPORT: "Import an existing disk",
}

# network: "" = automatic (the `default` network when it is active, else user networking)
NET_AUTO = ""
NET_USER = "user"
NET_NONE = "none"

FIRMWARE_BIOS = "bios"
FIRMWARE_UEFI = "uefi"

# characters libvirt refuses in a guest name (PITFALLS: it refuses '/' and accepts [ ] " =)
BAD_NAME_CHARS = "/"
NAME_MAX = 200


def name_problem(name: str) -> str:
    """Why libvirt would refuse ``name`` for a guest, or "" (taken names are the host's)."""
    if not name.strip():
        return "type a name for the guest"
    if name != name.strip():
        return "a guest name cannot start or end with a space"
    for c in BAD_NAME_CHARS:
        if c in name:
            return f"a guest name cannot hold {c!r} (libvirt refuses it): choose another name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "a guest name cannot hold control characters"
    if len(name) > NAME_MAX:
        return f"a guest name is at most {NAME_MAX} characters"
    return ""


@dataclass(frozen=True)
class CloudInit:
    """The NoCloud seed of a cloud image: the hostname (the guest's name when empty), a user
    (the image's default user when empty), ssh public keys, an optional password."""

    hostname: str = ""
    user: str = ""
    ssh_keys: tuple[str, ...] = ()
    password: str = ""


@dataclass(frozen=True)
class GuestSpec:
    """Everything the create form asks. ``None`` and "" mean "the default": the OS's
    recommendation from osinfo, capped by what the host has."""

    name: str
    os_id: str = ""  # osinfo short id (debian11, win10, ...); "" = generic Linux
    vcpus: int | None = None
    memory_mib: int | None = None
    disk_bytes: int | None = None
    pool: str = "default"
    disk_format: str = "qcow2"  # qcow2 or raw
    network: str = NET_AUTO  # "", "user", "none", "network:NAME", "bridge:NAME"
    firmware: str = FIRMWARE_BIOS
    source: str = SOURCE_EMPTY
    image: str = ""  # cloud/import: a file path on this machine or on the host, or POOL/VOLUME
    linked: bool = True  # cloud: a qcow2 overlay on the image (else a full copy)
    iso: str = ""  # iso: a path on the host or POOL/VOLUME
    cloud_init: CloudInit = field(default_factory=CloudInit)
    spice_ready: bool = True  # agent channel, usbredir, sound, qemu-xhci, SPICE graphics
    start: bool = True
    virt_type: str = ""  # "" = kvm when the host offers it, else qemu (TCG)


@dataclass(frozen=True)
class OsChoice:
    short_id: str
    name: str


@dataclass(frozen=True)
class CreateChoices:
    """What a host offers the create form beyond its pools and networks (read once when the
    form opens; ``Provisioning.choices``)."""

    host_memory_mib: int
    host_cpus: int
    uefi: bool  # OVMF is installed (libvirt's domain capabilities list an EFI loader)
    virt_types: tuple[str, ...]  # ("kvm", "qemu") or ("qemu",)
    guest_names: tuple[str, ...]
    remote: bool = False


@dataclass(frozen=True)
class CreateOffer:
    """All the create form offers: the host's :class:`CreateChoices`, and its pools and
    networks as the storage and networks families list them (the one listing their screens
    show too). :meth:`of` puts the ``default`` pool first."""

    host: CreateChoices
    pools: tuple[Pool, ...]
    networks: tuple[Network, ...]

    @classmethod
    def of(
        cls, host: CreateChoices, pools: Iterable[Pool], networks: Iterable[Network]
    ) -> CreateOffer:
        first = tuple(sorted(pools, key=lambda p: (p.name != "default", p.name)))
        return cls(host, first, tuple(networks))

    @property
    def default_pool_missing(self) -> bool:
        return not any(p.name == "default" for p in self.pools)

    def default_network(self) -> str:
        running = any(n.name == "default" and n.active for n in self.networks)
        # libvirt's NAT network when it runs, else QEMU's user networking
        return "network:default" if running else NET_USER


@dataclass(frozen=True)
class OsDefaults:
    """osinfo's recommendation for an OS (falls back to minimums, then to generic values)."""

    short_id: str
    name: str
    vcpus: int
    memory_mib: int
    disk_bytes: int
    virtio: bool  # virtio disk and NIC
    machine: str = "q35"


@dataclass(frozen=True)
class FieldProblem:
    """Bad input: the form field and what to do about it."""

    field: str
    message: str

    def text(self) -> str:
        return f"{self.field}: {self.message}"


class SpecRefused(BackendError):
    """The create (or clone, or edit) request is refused before anything was made."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = tuple(problems)
        super().__init__("; ".join(p.text() for p in problems))


class JobCancelled(BackendError):
    """The operator cancelled a long operation (what was made is removed)."""


@dataclass(frozen=True)
class Created:
    """A create's or clone's result: the guest, what was made, and the message to show."""

    name: str
    uuid: str
    made: tuple[str, ...]  # volumes (paths) made for it
    message: str
    started: bool = False
    iso_install: bool = False  # started from an ISO: offer the SPICE viewer


# -- delete ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeletePlan:
    """What deleting a guest removes with it."""

    name: str
    uuid: str
    active: bool
    volumes: tuple[str, ...]  # disk paths that are pool volumes (removed)
    other_disks: tuple[str, ...]  # files not in a pool, CD-ROM media (left alone)
    nvram: str  # "" when none
    snapshots: tuple[str, ...]

    def lines(self) -> list[str]:
        out = [f"Delete guest {self.name}:"]
        out += [f"  volume   {v}" for v in self.volumes] or ["  no volumes"]
        if self.nvram:
            out.append(f"  NVRAM    {self.nvram}")
        out += [f"  snapshot {s}" for s in self.snapshots]
        out += [f"  kept     {d} (not a pool volume)" for d in self.other_disks]
        return out


# -- edit -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuestSettings:
    """What the edit dialog shows and changes (saved config; ``live_*`` for a running guest)."""

    name: str
    uuid: str
    active: bool
    vcpus: int  # saved config
    max_vcpus: int
    memory_mib: int  # saved config (currentMemory)
    max_memory_mib: int
    autostart: bool
    live_vcpus: int = 0
    live_memory_mib: int = 0


@dataclass(frozen=True)
class GuestEdit:
    """The changes asked for: None means "leave it"."""

    vcpus: int | None = None
    memory_mib: int | None = None
    autostart: bool | None = None
    new_name: str | None = None


@dataclass(frozen=True)
class XmlDefineFailed(Exception):
    """libvirt refused the edited XML: the editor opens again with this error."""

    error: str
    xml: str

    def __str__(self) -> str:
        return self.error
