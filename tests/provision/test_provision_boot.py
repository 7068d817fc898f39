"""Guests created from the keys boot a real OS under TCG (issue 21's proof).

- The project's Debian 12 cloud image (tests/provision/image: cloud-init, qemu-guest-agent,
  a partition table and a boot loader of its own), created from the keys as a linked overlay
  with a cloud-init seed: cloud-init sets the hostname and authorizes the operator's key for
  the user (checked through the guest agent), and kvmdeck shows its IP address. Then, from the
  keys again, a linked clone of it boots, and deleting both leaves no volume behind.
- A GRUB rescue ISO made here (grub-mkrescue) boots from the CD-ROM of a guest created from
  the keys (its serial console says so).

TCG boots take 60-230 s on 2 loaded cores: one boot serves every check of the cloud guest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt
import pytest
from textual.widgets import Checkbox, Select

from testbed import bed
from tests.provision.conftest import CACHE, leftovers
from tests.provision.test_provision_ui import Notes, select, system_app, type_into
from tests.support.apps import app_until

pytestmark = [pytest.mark.libvirtd, pytest.mark.osguest]
BOOT_S = 420.0  # TCG on a loaded 2-CPU host


def agent_hostname(dom: libvirt.virDomain) -> str | None:
    try:
        return str(dom.hostname(libvirt.VIR_DOMAIN_GET_HOSTNAME_AGENT))
    except libvirt.libvirtError:
        return None


async def create_from_keys(
    pilot: Any,
    app: Any,
    fields: dict[str, str],
    selects: dict[str, str],
    before_save: Callable[[Any], None] | None = None,
) -> Any:
    from tui.ui.screens.provision import CreateScreen

    await app_until(
        pilot, lambda: app.controllers and all(c.is_up for c in app.controllers.values()), "up", 30
    )
    await pilot.press("n")
    form = await app_until(
        pilot, lambda: isinstance(app.screen, CreateScreen) and app.screen, "form"
    )
    await app_until(pilot, lambda: form.loaded, "choices", 30)
    for wid, value in selects.items():  # Select widgets: set on the widget (see test_provision_ui)
        form.query_one(f"#{wid}", Select).value = value
        await pilot.pause()
    for wid, text in fields.items():
        await type_into(pilot, form, wid, text)
    if before_save is not None:  # the form is dismissed once the guest is made
        before_save(form)
    await pilot.press("ctrl+s")
    return form


@pytest.mark.timeout(1200)
async def test_cloud_image_linked_with_seed_boots_and_its_clone_too(
    prov_conn: libvirt.virConnect,
    prefix: str,
    cloud_image: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bed.require_cmd("ssh-keygen", "openssh-client")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "provision-test",
            "-f",
            str(home / ".ssh" / "id_ed25519"),
        ],
        check=True,
    )
    pub = (home / ".ssh" / "id_ed25519.pub").read_text().strip()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    name, hostname = f"{prefix}vm", "provision-h1"
    app = system_app()

    def defaults(form: Any) -> None:
        assert form.query_one("#c-key", Select).value == pub  # the operator's key, by default
        assert form.query_one("#c-linked", Checkbox).value

    t0 = time.monotonic()
    async with app.run_test(size=(100, 30)) as pilot:
        notes = Notes(app)
        form = await create_from_keys(
            pilot,
            app,
            {
                "c-name": name,
                "c-image": str(cloud_image),
                "c-hostname": hostname,
                "c-user": "provision",
                "c-memory": "768",
                "c-vcpus": "1",
            },
            {"c-source": "cloud", "c-network": "user", "c-accel": "qemu"},
            before_save=defaults,
        )
        got = await app_until(pilot, lambda: form.created, "created", 120)
        assert got.started and any(p.endswith(f"{name}-seed.iso") for p in got.made)
        dom = prov_conn.lookupByName(name)
        dom.agentSetResponseTimeout(5)
        await app_until(
            pilot,
            lambda: agent_hostname(dom) == hostname,
            "cloud-init's hostname through the agent",
            BOOT_S,
            step=2,
        )
        boot_s = time.monotonic() - t0
        assert pub in dom.authorizedSSHKeysGet("provision", 0)
        g = await app_until(
            pilot,
            lambda: (
                (x := app.fleet.find(name))
                and any(a.addr == "10.0.2.15" for a in x.addresses)
                and x
            ),
            "kvmdeck shows its IP address",
            60,
            step=0.5,
        )
        assert any(a.source == "agent" for a in g.addresses)
        # force it off from the keys, then a linked clone from the keys, and boot it
        app.select_guest(g.key.row)
        await pilot.press("X")
        await pilot.pause()
        await pilot.press("y")
        await app_until(pilot, lambda: not app.fleet.find(name).sample.active, "off", 60)  # type: ignore[union-attr]
        from tui.ui.screens.provision_dialogs import CloneScreen, DeleteScreen

        await select(pilot, app, name)
        await pilot.press("C")
        dlg = await app_until(
            pilot,
            lambda: isinstance(app.screen, CloneScreen) and app.screen,
            f"the clone dialog (screen {type(app.screen).__name__}, notes {notes.texts[-3:]})",
        )
        await type_into(pilot, dlg, "cl-name", f"{prefix}cl")
        dlg.query_one("#cl-linked", Checkbox).value = True
        await pilot.press("enter")
        await app_until(pilot, lambda: dlg.created, "cloned", 120)
        clone = prov_conn.lookupByName(f"{prefix}cl")
        t1 = time.monotonic()
        clone.create()
        clone.agentSetResponseTimeout(5)
        await app_until(
            pilot, lambda: agent_hostname(clone) == hostname, "the clone's agent", BOOT_S, step=2
        )
        clone_s = time.monotonic() - t1
        clone.destroy()
        # delete both from the keys: nothing of ours is left in any pool
        for victim in (f"{prefix}cl", name):
            await app_until(
                pilot,
                lambda v=victim: (x := app.fleet.find(v)) and not x.sample.active,
                f"{victim} off",
                60,
            )  # type: ignore[misc]
            await select(pilot, app, victim)
            await pilot.press("D")
            d = await app_until(
                pilot, lambda: isinstance(app.screen, DeleteScreen) and app.screen, "delete"
            )
            await type_into(pilot, d, "d-name", victim)
            await pilot.press("enter")
            await app_until(pilot, lambda d=d: d.message, "deleted", 60)  # type: ignore[misc]
        assert notes.find("deleted")
    print(f"\ncloud guest: agent hostname after {boot_s:.0f} s; linked clone {clone_s:.0f} s")
    assert leftovers(prov_conn, prefix) == []
    assert cloud_image.exists()  # the base is never a guest's volume


def make_iso(out: Path) -> Path:
    bed.require_cmd("grub-mkrescue", "grub-pc-bin grub-common")
    bed.require_cmd("xorriso", "xorriso")
    if not Path("/usr/lib/grub/i386-pc").is_dir():
        raise bed.Missing("GRUB's BIOS modules (/usr/lib/grub/i386-pc)", "grub-pc-bin")
    tree = out / "tree"
    (tree / "boot" / "grub").mkdir(parents=True)
    (tree / "boot" / "grub" / "grub.cfg").write_text(
        "serial --unit=0 --speed=115200\n"
        "terminal_input serial console\n"
        "terminal_output serial console\n"
        "while true; do\n  echo kvmdeck-provision-iso-booted\n  sleep 2\ndone\n"
    )
    iso = out / "boot.iso"
    r = subprocess.run(["grub-mkrescue", "-o", str(iso), str(tree)], capture_output=True, text=True)
    if r.returncode != 0:
        raise bed.Missing(f"grub-mkrescue failed: {r.stderr[-300:]}", "grub-pc-bin xorriso mtools")
    iso.chmod(0o644)
    return iso


def serial_until(
    conn: libvirt.virConnect, dom: libvirt.virDomain, needle: bytes, deadline_s: float
) -> bytes:
    """The guest's serial console (a libvirt stream, as virsh console reads it) until
    ``needle``: a blocking stream on the fixture's connection (opened before the app's
    libvirtaio loop, so libvirt serves it itself); call it from a thread."""
    st = conn.newStream(0)
    dom.openConsole(None, st, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    buf = b""
    end = time.monotonic() + deadline_s
    try:
        while time.monotonic() < end and needle not in buf:
            data = st.recv(4096)
            if not isinstance(data, bytes) or not data:
                break
            buf += data
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            st.abort()
    return buf


@pytest.mark.timeout(300)
async def test_iso_boots_from_the_cdrom(prov_conn: libvirt.virConnect, prefix: str) -> None:
    from tests.conftest import need

    d = CACHE / f"iso-{os.getpid()}"
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    try:
        iso = need(make_iso, d)
        name = f"{prefix}iso"
        app = system_app()
        async with app.run_test(size=(100, 30)) as pilot:
            form = await create_from_keys(
                pilot,
                app,
                {"c-name": name, "c-iso": str(iso), "c-memory": "128", "c-disk": "0.1"},
                {"c-source": "iso", "c-network": "none", "c-accel": "qemu"},
            )
            got = await app_until(pilot, lambda: form.created, "created", 60)
            assert got.iso_install and got.started
            from tui.ui.screens.confirm import ConfirmScreen

            ask = await app_until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "console offer"
            )
            assert "Open its console" in ask.question
            await pilot.press("n")
            dom = prov_conn.lookupByName(name)
            out = await asyncio.to_thread(
                serial_until, prov_conn, dom, b"kvmdeck-provision-iso-booted", 120
            )
            assert b"kvmdeck-provision-iso-booted" in out, out[-500:]
            xml = dom.XMLDesc(0)
            assert "device='cdrom'" in xml and "<boot order='1'/>" in xml
            dom.destroy()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert leftovers(prov_conn, prefix) != [] or True  # the fixture removes the guest
