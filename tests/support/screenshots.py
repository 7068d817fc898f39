"""``make screenshots``: SVGs of the real app against real TCG guests, for the README.

Starts three transient guests, runs the app on qemu:///system at 120x36 (a common terminal),
and saves screenshots/{main,guest-detail,doctor,help}.svg, then main-80x24.svg and the create
form, create-80x24.svg, at 80x24 (the smallest terminal kvmdeck fits). screenshots/usb.svg comes from the USB lab
(``python -m lab.screenshot``, run by ``make screenshots`` after this): this VM has no USB bus.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from testbed import bed
from tui.cli.wiring import make_app
from tui.ui.app import AppOptions

OUT = Path(__file__).resolve().parents[2] / "screenshots"
SIZE = (120, 36)
SMALL = (80, 24)


async def shoot() -> list[Path]:
    conn, _ = bed.ensure_libvirtd()
    bed.sweep(conn)
    guests = [bed.create_transient(conn, i, tag="shot") for i in range(3)]
    saved: list[Path] = []
    try:
        app = make_app(AppOptions(uris=[bed.SYSTEM_URI], refresh=1.0))
        async with app.run_test(size=SIZE) as pilot:

            async def save(name: str) -> None:
                await pilot.pause(0.3)
                path = OUT / f"{name}.svg"
                app.save_screenshot(filename=path.name, path=str(OUT))
                saved.append(path)

            # Let CPU%, disk and net rates build a little history, and the doctor finish.
            for _ in range(100):
                rows = [s for s in app.table.samples.values() if s.name.startswith(bed.PREFIX)]
                if len(rows) >= 3 and all(s.cpu_pct for s in rows) and app.vt.report:
                    break
                await pilot.pause(0.1)
            await pilot.pause(20)  # a little history for the sparklines and charts
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
            await pilot.press("question_mark")
            await save("help")
            await pilot.press("escape")
            await pilot.resize_terminal(*SMALL)
            await pilot.pause(1.5)
            await save("main-80x24")
            await pilot.press("n")  # the create form (issue 21), at 80x24 too
            for _ in range(100):
                if getattr(app.screen, "loaded", False):
                    break
                await pilot.pause(0.1)
            await save("create-80x24")
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
