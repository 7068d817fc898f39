"""What the virtualization doctor reports: checks, libvirt's view and the verdict (plain data)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from tui.model.link import LinkFailure

MODES = ("intel", "amd", "pvm", "none")
BASIS_TEXT = {
    "probe": "from the /dev/kvm probe",
    "static": "from the files alone: the probe could not run",
    "libvirt": "from libvirt's view of the remote host",
}


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    """One check: a status, a one-line detail and, when something is wrong or unknown, the fix."""

    key: str
    title: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class KvmView:
    """libvirt's view of one host: does it offer domain type ``kvm`` for the host arch?"""

    uri: str
    driver: str = ""  # "QEMU", "Test", … (virConnectGetType)
    hostname: str = ""
    arch: str | None = None
    kvm_offered: bool | None = None  # None: could not ask
    cpu_vendor: str | None = None  # "Intel", "AMD" (capabilities/host/cpu/vendor)
    cpu_features: frozenset[str] = frozenset()
    emulator: str | None = None
    source: str = ""  # "getDomainCapabilities" | "getCapabilities"
    error: str = ""
    failure: LinkFailure | None = None  # why the connection failed, when it did

    def check(self) -> Check:
        title = "libvirt offers domain type kvm"
        where = f"{self.uri} ({self.hostname})" if self.hostname else self.uri
        if self.error:
            return Check(
                "libvirt",
                title,
                Status.UNKNOWN,
                f"{where}: {self.error}",
                f"{self.failure.fix}."
                if self.failure and self.failure.fix
                else "Check the URI and that libvirtd runs there.",
            )
        if self.driver and self.driver.upper() != "QEMU":
            return Check(
                "libvirt",
                title,
                Status.UNKNOWN,
                f"{where}: the {self.driver} driver runs no KVM guests",
                "",
            )
        if self.kvm_offered:
            return Check(
                "libvirt",
                title,
                Status.OK,
                f"{where}: kvm offered for {self.arch} by {self.emulator} ({self.source})",
            )
        return Check(
            "libvirt",
            title,
            Status.FAIL,
            f"{where}: only TCG (type 'qemu') for {self.arch} ({self.source})",
            "Let libvirt-qemu open /dev/kvm, then restart libvirtd so it probes QEMU again "
            "(its cached capabilities are in /var/cache/libvirt/qemu/capabilities).",
        )


@dataclass(frozen=True)
class VtReport:
    """The doctor's whole report. ``usable``/``mode`` are the verdict; ``badge`` is one glance."""

    checks: tuple[Check, ...]
    usable: bool
    mode: str  # one of MODES
    host_is_guest: bool | None
    nested_supported: bool | None
    basis: str  # "probe" (ioctls ran), "static" (files only), "libvirt" (remote host)
    vendor: str = ""
    notes: tuple[str, ...] = ()
    libvirt: KvmView | None = None
    remote: bool = False
    root: str = "/"

    @property
    def badge(self) -> str:
        if self.remote and (self.libvirt is None or self.libvirt.kvm_offered is None):
            return "KVM: unknown — libvirt unreachable"
        if not self.usable or self.mode == "none":
            return "KVM: unavailable — emulation only"
        if self.mode == "pvm":
            return "KVM: PVM"
        return f"KVM: hardware ({self.mode})"

    @property
    def verdict(self) -> str:
        """'usable, PVM', 'usable, hardware (intel)', 'not usable, emulation only (TCG)'."""
        if self.remote and (self.libvirt is None or self.libvirt.kvm_offered is None):
            return "unknown: libvirt unreachable"
        if not self.usable:
            return "not usable, emulation only (TCG)"
        return "usable, PVM" if self.mode == "pvm" else f"usable, hardware ({self.mode})"

    @property
    def basis_text(self) -> str:
        return BASIS_TEXT.get(self.basis, self.basis)

    def check(self, key: str) -> Check | None:
        return next((c for c in self.checks if c.key == key), None)

    def worst(self) -> Status:
        order = (Status.FAIL, Status.WARN, Status.UNKNOWN, Status.OK)
        present = {c.status for c in self.checks}
        return next((s for s in order if s in present), Status.OK)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "usable": self.usable,
            "mode": self.mode,
            "verdict": self.verdict,
            "badge": self.badge,
            "host_is_guest": self.host_is_guest,
            "nested_supported": self.nested_supported,
            "basis": self.basis,
            "vendor": self.vendor,
            "remote": self.remote,
            "root": self.root,
            "notes": list(self.notes),
            "checks": [
                {
                    "key": c.key,
                    "title": c.title,
                    "status": str(c.status),
                    "detail": c.detail,
                    "fix": c.fix,
                }
                for c in self.checks
            ],
            "libvirt": None,
        }
        if self.libvirt is not None:
            view = asdict(self.libvirt)
            view["cpu_features"] = sorted(self.libvirt.cpu_features)
            if self.libvirt.failure is not None:
                view["failure"] = dict(view["failure"], cause=self.libvirt.failure.cause.value)
            out["libvirt"] = view
        return out
