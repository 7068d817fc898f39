"""Create, clone, delete, edit and the XML editor from the keys, against the real libvirtd
(qemu:///system); no guest OS boots here (test_provision_boot.py does that).

Text fields are typed key by key; a few Select fields are set on the widget (Textual's Select
overlay would add nothing but keystrokes to count)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import libvirt
import pytest
from textual.widgets import Input

from testbed import bed
from tests.provision.conftest import leftovers
from tests.support.apps import app_until
from tui.adapters.libvirt.held import fixed
from tui.adapters.libvirt.provision import LibvirtProvisioning
from tui.cli.wiring import make_app
from tui.model.provision import GuestSpec
from tui.ui.app import AppOptions, KvmDeckApp

pytestmark = pytest.mark.libvirtd


class Notes:
    def __init__(self, app: KvmDeckApp) -> None:
        self.texts: list[str] = []
        real = app.notify

        def notify(message: str, **kw: Any) -> None:
            self.texts.append(message)
            real(message, **kw)

        app.notify = notify  # type: ignore[method-assign]

    def find(self, words: str) -> str | None:
        return next((t for t in self.texts if words in t), None)


def system_app(**kw: Any) -> KvmDeckApp:
    return make_app(AppOptions(uris=[bed.SYSTEM_URI], vt_badge="KVM: test", **kw))


async def select(pilot: Any, app: KvmDeckApp, name: str) -> None:
    g = await app_until(pilot, lambda: app.fleet.find(name), f"row {name}", 30, step=0.1)
    app.select_guest(g.key.row)
    await pilot.pause()


async def type_into(pilot: Any, screen: Any, wid: str, text: str) -> None:
    box = screen.query_one(f"#{wid}", Input)
    box.focus()
    await pilot.pause()
    box.value = ""
    await pilot.press(*text)


async def test_create_with_only_a_name_then_delete(
    prov_conn: libvirt.virConnect, prefix: str
) -> None:
    """n, a name, Enter: libvirt accepts it and it starts (80x24); D lists its volume and asks
    for the name; the wrong name is refused, the right one deletes it and its volume."""
    from tui.ui.screens.provision import CreateScreen
    from tui.ui.screens.provision_dialogs import DeleteScreen

    name = f"{prefix}ui"
    app = system_app()
    async with app.run_test(size=(80, 24)) as pilot:
        notes = Notes(app)
        await app_until(
            pilot,
            lambda: (
                app.fleet.hosts
                and app.controllers
                and all(c.is_up for c in app.controllers.values())
            ),
            "host up",
            30,
        )
        await pilot.press("n")
        form = await app_until(
            pilot, lambda: isinstance(app.screen, CreateScreen) and app.screen, "form"
        )
        await app_until(pilot, lambda: form.loaded, "choices")
        await pilot.press(*name)
        await pilot.press("enter")
        got = await app_until(pilot, lambda: form.created, "created", 60)
        assert got.started and name in notes.find("created")  # type: ignore[operator]
        dom = prov_conn.lookupByName(name)
        assert dom.isActive()
        g = await app_until(pilot, lambda: app.fleet.find(name), "the new guest's row", 30)
        # delete: refused while it runs; then off, D, the name
        app.select_guest(g.key.row)
        await pilot.press("D")
        await app_until(pilot, lambda: notes.find("shut it down"), "refusal")
        dom.destroy()
        await app_until(pilot, lambda: not app.fleet.find(name).sample.active, "shut off", 30)  # type: ignore[union-attr]
        await pilot.press("D")
        dlg = await app_until(
            pilot, lambda: isinstance(app.screen, DeleteScreen) and app.screen, "delete dialog"
        )
        assert f"{name}.qcow2" in str(dlg.query_one("#d-plan").render())
        await pilot.press(*"wrong", "enter")
        await app_until(
            pilot, lambda: "not" in str(dlg.query_one("#d-problem").render()), "refused name"
        )
        await type_into(pilot, dlg, "d-name", name)
        await pilot.press("enter")
        await app_until(pilot, lambda: dlg.message, "deleted", 30)
        assert "1 volume" in dlg.message
    assert leftovers(prov_conn, prefix) == []


async def test_create_form_names_fields_and_removes_a_late_failure(
    prov_conn: libvirt.virConnect, prefix: str, tmp_path: Path
) -> None:
    from textual.widgets import Select

    from tui.ui.screens.provision import CreateScreen

    app = system_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app_until(
            pilot,
            lambda: app.controllers and all(c.is_up for c in app.controllers.values()),
            "up",
            30,
        )
        await pilot.press("n")
        form = await app_until(
            pilot, lambda: isinstance(app.screen, CreateScreen) and app.screen, "form"
        )
        await app_until(pilot, lambda: form.loaded, "choices")
        await pilot.press(*"a/b", "enter")
        problem = lambda: str(form.query_one("#c-problem").render())  # noqa: E731
        await app_until(pilot, lambda: "Name:" in problem(), "name problem")
        await type_into(pilot, form, "c-name", f"{prefix}big")
        await type_into(pilot, form, "c-memory", "99999999")
        await type_into(pilot, form, "c-disk", "999999")
        await pilot.press("enter")
        await app_until(
            pilot, lambda: "Memory:" in problem() and "Disk:" in problem(), "problems", 30
        )
        assert "more than the host" in problem() and "free" in problem()
        # a late failure: an empty disk on a bridge that does not exist; start fails
        await type_into(pilot, form, "c-memory", "128")
        await type_into(pilot, form, "c-disk", "0.01")
        form.query_one("#c-network", Select).value = "bridge"
        form.query_one("#c-accel", Select).value = "qemu"
        await type_into(pilot, form, "c-bridge", "kvmdprovnobr")
        await pilot.press("ctrl+s")
        await app_until(pilot, lambda: "removed" in problem(), "rollback message", 60)
        assert "starting the guest" in problem() and "removed the definition" in problem()
    assert leftovers(prov_conn, prefix) == []


async def test_readonly_refuses_every_provisioning_key(libvirtd: libvirt.virConnect) -> None:
    app = system_app(readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        notes = Notes(app)
        await pilot.pause()
        for key, words in (
            ("n", "create guests"),
            ("C", "clone guests"),
            ("D", "delete guests"),
            ("e", "change guests"),
            ("E", "change guests"),
        ):
            notes.texts.clear()
            await pilot.press(key)
            await app_until(pilot, lambda w=words: notes.find(w), f"refusal of {key}")  # type: ignore[misc]
            assert notes.find("read-only: restart without --readonly")
        assert type(app.screen).__name__ == "MainScreen"


async def test_clone_edit_and_xml_editor_from_the_keys(
    prov_conn: libvirt.virConnect, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C clones (full), e edits vCPUs/memory/autostart, E opens $EDITOR: an invalid change
    is refused by libvirt and the editor opens again on it with the error; the fix is saved."""
    from tui.ui.screens.provision_dialogs import CloneScreen, EditScreen, XmlDiffScreen

    prov = LibvirtProvisioning(fixed(prov_conn), remote=False)
    src = prov.create(
        GuestSpec(
            name=f"{prefix}src",
            start=False,
            disk_bytes=32 << 20,
            network="user",
            vcpus=1,
            memory_mib=256,
        )
    )
    editor = tmp_path / "editor.sh"
    log = tmp_path / "editor.log"
    editor.write_text(f"""#!/bin/sh
# 1st call: an invalid change; 2nd: libvirt's error is on top, fix it and add a watchdog
if grep -q 'kvmdeck: libvirt refused' "$1"; then
  echo second >> {log}
  sed -i "s/placement='nowhere'/placement='static'/; s#</devices>#<watchdog model='i6300esb' action='reset'/></devices>#" "$1"
else
  echo first >> {log}
  sed -i "s/placement='static'/placement='nowhere'/" "$1"
fi
""")
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a refused edit is kept there
    monkeypatch.delenv("VISUAL", raising=False)
    app = system_app()
    async with app.run_test(size=(100, 30)) as pilot:
        notes = Notes(app)
        await select(pilot, app, src.name)
        await pilot.press("C")
        dlg = await app_until(
            pilot, lambda: isinstance(app.screen, CloneScreen) and app.screen, "clone"
        )
        await type_into(pilot, dlg, "cl-name", f"{prefix}cl")
        await pilot.press("enter")
        await app_until(pilot, lambda: dlg.created, "cloned", 60)
        clone = prov_conn.lookupByName(f"{prefix}cl")
        assert clone.UUIDString() != src.uuid
        # edit the clone
        await select(pilot, app, f"{prefix}cl")
        await pilot.press("e")
        ed = await app_until(
            pilot, lambda: isinstance(app.screen, EditScreen) and app.screen, "edit"
        )
        await type_into(pilot, ed, "e-vcpus", "2")
        await type_into(pilot, ed, "e-memory", "320")
        await pilot.press("enter")
        await app_until(pilot, lambda: notes.find("2 vCPUs saved"), "edited", 30)
        s = prov.settings(clone.UUIDString())
        assert (s.vcpus, s.memory_mib) == (2, 320)
        # the XML in $EDITOR: invalid, refused, reopened with the error, fixed, saved
        await pilot.press("E")
        for _ in range(2):
            diff = await app_until(
                pilot, lambda: isinstance(app.screen, XmlDiffScreen) and app.screen, "diff", 30
            )
            await pilot.press("y")
            await app_until(pilot, lambda d=diff: app.screen is not d, "diff closed")  # type: ignore[misc]
        await app_until(pilot, lambda: notes.find("saved the new config"), "saved", 30)
        assert notes.find("libvirt refused it")
        assert log.read_text().split() == ["first", "second"]
        assert "i6300esb" in prov.xml(clone.UUIDString())
        # delete the clone: its own volume only; the source keeps its own
        assert prov.delete_plan(clone.UUIDString()).volumes != prov.delete_plan(src.uuid).volumes
    assert os.environ["EDITOR"] == str(editor)
