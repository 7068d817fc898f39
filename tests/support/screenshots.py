"""``make screenshots``: SVGs of the real app against real TCG guests, for the README.

Starts three transient guests, runs the app on qemu:///system, and saves screenshots/*.svg.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.support import bed
from tui.ui.app import AppOptions, KvmDeckApp

OUT = Path(__file__).resolve().parents[2] / "screenshots"
SIZE = (170, 44)


async def shoot() -> list[Path]:
    conn, _ = bed.ensure_libvirtd()
    bed.sweep(conn)
    guests = [bed.create_transient(conn, i, tag="shot") for i in range(3)]
    saved: list[Path] = []
    try:
        app = KvmDeckApp(AppOptions(uris=[bed.SYSTEM_URI], refresh=1.0))
        async with app.run_test(size=SIZE) as pilot:

            async def save(name: str) -> None:
                await pilot.pause(0.3)
                path = OUT / f"{name}.svg"
                app.save_screenshot(filename=path.name, path=str(OUT))
                saved.append(path)

            # Let CPU%, disk and net rates build a little history.
            for _ in range(80):
                rows = [s for s in app.table.samples.values() if s.name.startswith(bed.PREFIX)]
                if len(rows) >= 3 and all(s.cpu_pct for s in rows) and app.vt_report:
                    break
                await pilot.pause(0.1)
            await pilot.pause(6)
            await save("main")
            key = next(k for k, s in app.table.samples.items() if s.name == guests[0].name)
            app.select_guest(key)
            await pilot.press("enter")
            await pilot.pause(2)
            await save("guest-detail")
            await pilot.press("escape")
            await pilot.press("d")
            await save("doctor")
            await pilot.press("escape")
            await pilot.press("u")
            await save("usb")
            await pilot.press("escape")
            await pilot.press("question_mark")
            await save("help")
            await pilot.press("escape")
    finally:
        for g in guests:
            bed.remove(conn, g)
        conn.close()
    return saved


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for path in asyncio.run(shoot()):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
