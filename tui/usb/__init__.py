"""USB: pyudev monitor, device model, auto-attach rules (no textual here)."""
