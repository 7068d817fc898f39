"""--demo (the libvirt test driver): the create form and delete work there too, from the keys."""

from __future__ import annotations

from pathlib import Path

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


async def test_missing_default_pool_is_offered_and_created() -> None:
    """test:///default has no pool named default: the form says so, Ctrl+B creates it as
    virt-manager does (/var/lib/libvirt/images, started, autostart), then a name is enough."""
    from textual.widgets import Input

    from tui.cli.wiring import make_app
    from tui.ui.app import AppOptions
    from tui.ui.screens.provision import CreateScreen

    app = make_app(AppOptions(uris=["test:///default"], vt_badge="KVM: test"))
    async with app.run_test(size=(80, 24)) as pilot:
        await app_until(
            pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "up"
        )
        await pilot.press("n")
        form = await app_until(
            pilot, lambda: isinstance(app.screen, CreateScreen) and app.screen, "form"
        )
        await app_until(pilot, lambda: form.loaded, "choices")
        assert "There is no default pool" in str(form.query_one("#c-note").render())
        # the OS field completes osinfo's ids
        os_box = form.query_one("#c-os", Input)
        os_box.focus()
        await pilot.press(*"debian1")
        await app_until(pilot, lambda: os_box._suggestion.startswith("debian1"), "a suggestion")
        await pilot.press("right")
        assert os_box.value.startswith("debian1") and len(os_box.value) > len("debian1")
        form.query_one("#c-name", Input).focus()
        await pilot.press(*"t1", "enter")
        problem = lambda: str(form.query_one("#c-problem").render())  # noqa: E731
        await app_until(pilot, lambda: "no default pool" in problem(), "the pool problem")
        await pilot.press("ctrl+b")
        await app_until(
            pilot, lambda: "Ctrl+B" not in str(form.query_one("#c-note").render()), "pool made"
        )
        form.query_one("#c-name", Input).focus()
        await pilot.press("enter")
        got = await app_until(pilot, lambda: form.created, "created", 30)
        assert got.started


async def test_create_form_offers_the_storage_and_networks_listing() -> None:
    """The form's pools and networks are the storage and networks families' listing (what S
    and L show): the default pool first with its free space, a stopped pool and a stopped
    network marked inactive, then the other ways to connect."""
    from textual.widgets import Select

    from tui.model.jobs import human_bytes
    from tui.ui.screens.provision import CreateScreen

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app_until(
            pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "up"
        )
        host = next(iter(app.controllers))
        caps = app.caps(host)
        assert caps.storage is not None and caps.networks is not None
        caps.storage.stop_pool("backups")  # the test driver, in this process: no host call waits
        caps.networks.stop("lab-isolated")
        default = next(p for p in caps.storage.pools() if p.name == "default")
        await pilot.press("n")
        form = await app_until(
            pilot, lambda: isinstance(app.screen, CreateScreen) and app.screen, "form"
        )
        await app_until(pilot, lambda: form.loaded, "choices")
        pools = form.query_one("#c-pool", Select)._options
        assert pools == [
            (f"default ({human_bytes(default.available)} free)", "default"),
            ("backups (inactive)", "backups"),
        ]
        assert form.query_one("#c-pool", Select).value == "default"
        nets = form.query_one("#c-network", Select)._options
        assert nets == [
            ("automatic (network default)", ""),
            ("network default", "network:default"),
            ("network lab-isolated (inactive)", "network:lab-isolated"),
            ("user networking (QEMU)", "user"),
            ("bridge (below)", "bridge"),
            ("none", "none"),
        ]


def test_a_default_pool_that_cannot_be_built_is_not_left_half_made(tmp_path: Path) -> None:
    """Ctrl+B (ensure_default_pool) defines, builds, starts and autostarts the default pool;
    when a step fails, the pool it defined is removed again and the message says so, as the
    storage screen's new directory pool does. A fake, and why: neither the test driver nor
    libvirtd here refuses to build a directory pool, so the test driver's connection is
    wrapped to make its new pool's build fail; everything else is the test driver's."""
    import libvirt
    import pytest

    from tui.adapters.libvirt.held import fixed
    from tui.adapters.libvirt.provision import LibvirtProvisioning
    from tui.model.backend import BackendError

    node = tmp_path / "node.xml"  # a test driver of its own (test:///default is shared)
    node.write_text("<node></node>\n")
    conn = libvirt.open(f"test://{node}")
    assert "default" not in conn.listStoragePools() + conn.listDefinedStoragePools()

    class NoBuild:
        def __init__(self, pool: libvirt.virStoragePool) -> None:
            self._pool = pool

        def build(self, _flags: int = 0) -> int:
            raise libvirt.libvirtError("cannot build: refused by the test")

        def __getattr__(self, name: str) -> object:
            return getattr(self._pool, name)

    class Conn:
        def storagePoolDefineXML(self, xml: str, flags: int = 0) -> NoBuild:
            return NoBuild(conn.storagePoolDefineXML(xml, flags))

        def __getattr__(self, name: str) -> object:
            return getattr(conn, name)

    try:
        prov = LibvirtProvisioning(fixed(Conn()), remote=False)  # type: ignore[arg-type]
        with pytest.raises(BackendError) as err:
            prov.ensure_default_pool()
        assert "cannot build pool default" in err.value.message, err.value.message
        assert "removed again" in err.value.message, err.value.message
        assert "default" not in conn.listStoragePools() + conn.listDefinedStoragePools()
    finally:
        conn.close()
