"""DoctorScreen in a tiny App: every check listed, statuses coloured, closes with escape and q."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Static

from tui.cli.doctor import probe_host
from tui.model.vt import VtReport
from tui.ui.screens.doctor import DoctorScreen


class DoctorApp(App[None]):
    def __init__(self, report: VtReport) -> None:
        super().__init__()
        self.report = report

    def on_mount(self) -> None:
        self.push_screen(DoctorScreen(self.report))


def rendered(widget: Static) -> list[list[tuple[str, str]]]:
    """(text, colour name) segments of each rendered line."""
    lines = []
    for y in range(widget.size.height):
        segs = []
        for seg in widget.render_line(y):
            color = seg.style.color.name if seg.style and seg.style.color else ""
            segs.append((seg.text, color))
        lines.append(segs)
    return lines


async def test_doctor_screen_lists_checks_and_closes(trees: dict[str, Path]) -> None:
    report = probe_host(trees["bios_disabled"])
    app = DoctorApp(report)
    async with app.run_test(size=(170, 60)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        verdict = "".join(
            t for line in rendered(screen.query_one("#doctor-verdict", Static)) for t, _ in line
        )
        assert "KVM: unavailable — emulation only" in verdict
        lines = rendered(screen.query_one("#doctor-checks", Static))
        text = "\n".join("".join(t for t, _ in line) for line in lines)
        for check in report.checks:
            assert check.title in text, check.title
        assert "VMX (outside TXT) disabled by BIOS" in text
        colours = {t.strip(): c for line in lines for t, c in line if t.strip()}
        assert colours["fail"] == "red"
        assert colours["ok"] == "green"
        assert colours["unknown"] == "magenta"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DoctorScreen)
        app.push_screen(DoctorScreen(probe_host(trees["pvm"])))
        await pilot.pause()
        notes = "".join(
            t for line in rendered(app.screen.query_one("#doctor-notes", Static)) for t, _ in line
        )
        assert "PVM-enabled guest kernel" in notes
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, DoctorScreen)


async def test_show_replaces_the_report(trees: dict[str, Path]) -> None:
    app = DoctorApp(probe_host(trees["no_kvm"]))
    async with app.run_test(size=(170, 60)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        screen.show(probe_host(trees["amd"]))
        await pilot.pause()
        verdict = "".join(
            t for line in rendered(screen.query_one("#doctor-verdict", Static)) for t, _ in line
        )
        assert "KVM: hardware (amd)" in verdict
