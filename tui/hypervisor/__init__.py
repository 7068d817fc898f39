"""libvirt side: connections, stats, events, domain XML (no textual here)."""
