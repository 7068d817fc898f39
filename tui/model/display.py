"""The display doctor's values: one finding per SPICE fact, and a make-SPICE-ready plan.

Plain values: the findings are computed by :mod:`tui.core.display`, the plan by
:mod:`tui.adapters.libvirt.spice_ready`; the UI and ``kvmdeck doctor --guest`` show them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tui.model.domain import DisplayInfo, DomainInfo


class Level(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One line of the display doctor: what, how good, the facts, and the fix (when not ok)."""

    name: str
    status: Level
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class SpiceReadyPlan:
    """What "make SPICE-ready" would change in a guest's saved config.

    ``base_xml`` and ``new_xml`` were read with ``VIR_DOMAIN_XML_SECURE`` (defining XML read
    without it would drop the display's password), so they are never shown, logged or repr'd;
    ``diff`` is the redacted unified diff the operator confirms.
    """

    guest: str
    persistent: bool
    active: bool
    added: tuple[str, ...] = ()
    diff: str = ""
    base_xml: str = field(default="", repr=False)
    new_xml: str = field(default="", repr=False)

    @property
    def needed(self) -> bool:
        return bool(self.added)

    @property
    def when(self) -> str:
        """When the change takes effect, as the confirmation and the result say it."""
        if self.active:
            return "takes effect at the next boot (shut it down and start it: a reboot keeps its devices)"
        return "takes effect when the guest starts"


@dataclass(frozen=True)
class DisplayFacts:
    """What the display doctor reads of one guest: ``info`` from the live XML of a running guest
    (else its saved config); ``saved``, a running persistent guest's saved config, whose
    devices wait for the next boot; ``secure``: read with ``VIR_DOMAIN_XML_SECURE`` (only then
    is "no password" known). Holds no password value."""

    info: DomainInfo
    active: bool
    persistent: bool
    secure: bool
    saved: DisplayInfo | None = None
