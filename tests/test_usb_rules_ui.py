"""Rules from the USB screen: R saves a rule for the selected device, D forgets it.

The device is a plain UsbDevice value (this VM has no USB bus); rules.toml is really written.
"""

from __future__ import annotations

from tests.support import fixed
from tui.adapters.libvirt.connection import demo_uri
from tui.config import rules_path
from tui.core.usb.rules import load_rules
from tui.ui.app import AppOptions, KvmDeckApp
from tui.ui.screens.picker import GuestPicker
from tui.ui.screens.usb import UsbScreen


async def test_make_and_forget_a_rule_from_the_usb_screen() -> None:
    app = KvmDeckApp(AppOptions(uris=[demo_uri()], demo=True, vt_badge="KVM: test"))
    sandisk = fixed.usb_devices()[2]
    async with app.run_test(size=(160, 45)) as pilot:
        for _ in range(200):
            if len(app.table.samples) == 6 and app.rule_engine is not None:
                break
            await pilot.pause(0.05)
        await pilot.press("u")
        await pilot.pause()
        assert app.screen is app.usb_screen
        app.usb_screen.post_message(UsbScreen.RuleRequested(sandisk))
        for _ in range(100):
            if isinstance(app.screen, GuestPicker):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, GuestPicker)
        names = [n for n, _ in app.screen.guests]
        for _ in range(names.index("db-primary")):
            await pilot.press("down")
        await pilot.press("space")  # persistent
        await pilot.press("enter")
        await pilot.pause(0.2)
        rules = load_rules(rules_path())
        assert len(rules) == 1
        r = rules[0]
        assert (r.vendor_id, r.product_id, r.guest) == (0x0781, 0x5581, "db-primary")
        assert r.serial == "4C530001" and r.persistent is True
        app.usb_screen.post_message(UsbScreen.ForgetRuleRequested(sandisk))
        await pilot.pause(0.2)
        assert load_rules(rules_path()) == []
        assert app.rule_engine is not None and app.rule_engine.rules == []
