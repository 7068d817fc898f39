"""Demo mode (``kvmdeck --demo``): libvirt's test driver made to look alive.

The test driver reports guests' states and nothing else (no CPU, memory, disk or network
figures; no ``attachDeviceFlags``). These adapters wrap the real ones and fill in plausible,
moving, *seeded* figures, simulate USB plugging and hostdev attach/detach in memory, DHCP
leases, and volume upload and resize and CD-ROM media changes (storage.py, media.py), so a
first ``make run`` without libvirtd shows every feature. Every simulated result says "(demo)".
Chosen by ``tui/cli/wiring.py`` only in demo mode and only for ``test://`` URIs.
"""
