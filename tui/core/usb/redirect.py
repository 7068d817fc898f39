"""Which USB devices a guest's graphical console redirects from the operator's machine."""

from __future__ import annotations

import logging

from tui.core.usb.rules import RulesError, load_rules

log = logging.getLogger(__name__)


def redirect_ids(guest: str) -> list[tuple[int, int]]:
    """(vendor, product) of the devices the USB rules name for ``guest``: the viewer redirects
    them from the operator's machine too (rules by port alone name no ids). A rules file that
    does not load: none. Reads rules.toml: blocks (call it from the runner)."""
    try:
        rules = load_rules()
    except (RulesError, OSError) as exc:
        log.warning("USB redirect filter without rules: %s", exc)
        return []
    return list(
        dict.fromkeys(
            (r.vendor_id, r.product_id)
            for r in rules
            if r.guest == guest and r.vendor_id is not None and r.product_id is not None
        )
    )


__all__ = ["redirect_ids"]
