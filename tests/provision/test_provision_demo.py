"""--demo (the libvirt test driver): the create form and delete work there too, from the keys."""

from __future__ import annotations

from tests.support.apps import app_until, demo_app


async def test_demo_create_with_only_a_name_then_delete() -> None:
    from tui.ui.screens.provision import CreateScreen
    from tui.ui.screens.provision_dialogs import DeleteScreen

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app_until(
            pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "up"
        )
        await pilot.press("n")
        form = await app_until(
            pilot, lambda: isinstance(app.screen, CreateScreen) and app.screen, "form"
        )
        await app_until(pilot, lambda: form.loaded, "choices")
        await pilot.press(*"demo-new", "enter")
        got = await app_until(pilot, lambda: form.created, "created", 30)
        assert got.started and "created demo-new" in got.message
        g = await app_until(pilot, lambda: app.fleet.find("demo-new"), "its row", 30)
        app.controllers[g.key.host].act(g.key.uuid, g.name, "destroy")
        await app_until(pilot, lambda: not app.fleet.find("demo-new").sample.active, "off", 30)  # type: ignore[union-attr]
        app.select_guest(g.key.row)
        await pilot.press("D")
        d = await app_until(
            pilot, lambda: isinstance(app.screen, DeleteScreen) and app.screen, "delete"
        )
        await pilot.press(*"demo-new", "enter")
        await app_until(pilot, lambda: d.message, "deleted", 30)
        await app_until(pilot, lambda: app.fleet.find("demo-new") is None, "row gone", 30)
