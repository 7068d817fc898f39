"""``make screenshots``, the fleet (issue 23): 12 hosts at 120x40 — ten of libvirt's test
driver (a node XML each, ``testbed/fleet.py``), one down, one hung — named in ``[[hosts]]``.
Saves screenshots/fleet-main.svg (the summary line, rows that name their host), fleet-hosts.svg
(the hosts screen, the hung host's cause and fix) and fleet-marked.svg (marked guests on two
hosts and the bulk confirmation)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from testbed.fleet import make_fleet
from tui.cli.wiring import make_app
from tui.config import HostEntry, Settings
from tui.ui.app import AppOptions

OUT = Path(__file__).resolve().parents[2] / "screenshots"
SIZE = (120, 40)


async def shoot(work: Path) -> list[Path]:
    fleet = make_fleet(work, hosts=10, guests=8, down=1, hung=1)
    saved: list[Path] = []
    try:
        hosts = tuple(
            HostEntry(uri=u, name=n) for u, n in zip(fleet.uris, fleet.names, strict=True)
        )
        app = make_app(AppOptions(uris=list(fleet.uris), settings=Settings(hosts=hosts)))
        async with app.run_test(size=SIZE) as pilot:

            async def save(name: str) -> None:
                await pilot.pause(0.5)
                app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
                saved.append(OUT / f"{name}.svg")

            hung = app.fleet.host(app.host_order[-1])
            for _ in range(300):  # the hung host gives up after 10 s
                if hung.report is not None and hung.report.failure is not None:
                    break
                await pilot.pause(0.1)
            await pilot.press("O")  # by host
            await save("fleet-main")
            await pilot.press("H")
            for _ in range(11):
                await pilot.press("down")
            await save("fleet-hosts")
            await pilot.press("escape", "slash", *"vm0", "enter")
            for _ in range(6):
                await pilot.press("space")
            await pilot.press("down", "down", "space", "space")
            await pilot.press("p")
            await save("fleet-marked")
            await pilot.press("n")
    finally:
        fleet.close()
    return saved


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kvmdeck-fleet-") as work:
        for path in asyncio.run(shoot(Path(work))):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
