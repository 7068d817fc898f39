"""Local host: psutil sampling and the virtualization probe (no textual here)."""
