"""The footer of kvmdeck's screens and dialogs: the keys of the screen it is on, nothing else.

Below :attr:`KeysFooter.WIDE` columns it goes compact and drops Textual's "^p Command palette"
hint (Ctrl+P still works, and help lists it). The keys come in the registry's priority order
(``?`` first), as every screen's ``BINDINGS`` do; when they do not fit, the last ones take their
short label first (``Shutdown`` -> ``Shut``, the registry's ``short``), and only then lose it
(``c z S``) instead of being cut off: every key stays visible, ``?`` ("all keys") names them all.
A screen may rename a key for the state it shows (``footer_labels``: ``p Resume`` on a paused
guest).

When the keys change (a focus move, a gated key), Textual's footer recomposes: a dozen widgets
unmounted and mounted again, styled and laid out, 100-200 ms of CPU at 80x24 (bench P6: Esc
out of the filter). This one updates the keys it has in place and mounts or removes only the
difference (keys not needed now are hidden); it recomposes only for what it does not keep in
place (binding groups, labels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import Footer

from tui.registry import scope_actions
from tui.ui import actions
from tui.ui.compat import FooterKey, copy_footer_key

if TYPE_CHECKING:
    from textual.screen import Screen


@runtime_checkable
class Relabelling(Protocol):
    """A screen that names some keys for its state (p reads Resume on a paused guest)."""

    def footer_labels(self) -> dict[str, tuple[str, str]]: ...


def _cells(key: FooterKey) -> int:
    """Columns a compact footer key takes: "k Label" and the gap after it."""
    label = len(key.description) + 1 if key.description else 0
    return len(key.key_display) + label + 1


class KeysFooter(Footer):
    WIDE = 140

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, show_command_palette=False, compact=True)
        self._width = 0

    def compose(self) -> ComposeResult:
        items = list(super().compose())
        width = self._width or self.app.size.width
        keys = [
            w for w in items if isinstance(w, FooterKey) and not w.has_class("-command-palette")
        ]
        screen = self.screen
        scope = actions.scope_of(screen)
        known = scope_actions(scope) if scope else []
        shorts = {
            a.footer_label: (a.short or a.footer_label) for a in known
        }  # a widget's binding (Enter)
        shorts.update({a.action: (a.short or a.footer_label) for a in known})
        order = {a.footer_label: a.priority for a in known}
        order.update({a.action: a.priority for a in known})
        own = {b.action for b in (*screen.BINDINGS, *self.app.BINDINGS) if isinstance(b, Binding)}
        widget = [k for k in keys if k.action not in own]
        if widget and all(_plain(w) or w.has_class("-command-palette") for w in items):
            # The focused widget's keys (the table's Enter) come first in Textual's bindings:
            # put them where their registry priority says, among the screen's.

            def rank(k: FooterKey) -> int:
                return order.get(k.action, order.get(k.description, 99))

            keys = [k for k in keys if k not in widget]
            for k in widget:
                at = sum(1 for other in keys if rank(other) <= rank(k))
                keys.insert(at, k)
            items = [*keys, *(w for w in items if w not in keys)]
        renamed = screen.footer_labels() if isinstance(screen, Relabelling) else {}
        for key in keys:
            if key.action in renamed and key.description:
                key.description, shorts[key.action] = renamed[key.action]
        total = sum(_cells(k) for k in keys)
        if self.compact:
            for key in reversed(keys):  # lowest priority first: the short label
                if total <= width:
                    break
                short = shorts.get(key.action) or shorts.get(key.description, "")
                if key.description and short and len(short) < len(key.description):
                    total -= len(key.description) - len(short)
                    key.description = short
            for key in reversed(keys):  # still too wide: no label, lowest priority first
                if total <= width:
                    break
                if key.description:
                    total -= len(key.description) + 1
                    key.description = ""
        for key in keys:  # compact as its binding to ours will say: set before mount, its
            key.set_reactive(FooterKey.compact, self.compact)  # watcher's class change is then
            key.set_class(self.compact, "-compact", update=False)  # a no-op, not a restyle
        yield from items

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.update_keys)

    async def update_keys(self) -> None:
        """Show the screen's keys now, in the keys the footer has (those not needed are hidden,
        not removed: the filter box shows one key, Esc brings back twelve); mount only keys
        it never had. Recompose for anything else."""
        if not self.is_attached:
            return
        new = list(self.compose())
        old = list(self.children)
        new_palette, old_palette = _palette(new), _palette(old)
        if len(new_palette) != len(old_palette) or not all(
            _plain(w) for w in [*new, *old] if w not in new_palette + old_palette
        ):
            await self.recompose()
            return
        for have, want in zip(old_palette, new_palette, strict=True):  # docked: order is free
            copy_footer_key(have, want)  # type: ignore[arg-type]
        new = [w for w in new if w not in new_palette]
        old = [w for w in old if w not in old_palette]
        for have, want in zip(old, new, strict=False):
            copy_footer_key(have, want)  # type: ignore[arg-type]
            have.display = True
        for extra in old[len(new) :]:
            extra.display = False
        if len(new) > len(old):
            await self.mount_all(new[len(old) :])

    def on_resize(self, event: Resize) -> None:
        width = event.size.width
        if width == self._width:
            return
        self._width = width
        wide = width >= self.WIDE
        self.compact = not wide
        self.show_command_palette = wide
        if self.is_mounted:
            self.call_after_refresh(self.recompose)


def _palette(widgets: list[Widget]) -> list[Widget]:
    """The command palette's key (wide footers), docked right."""
    return [w for w in widgets if isinstance(w, FooterKey) and w.has_class("-command-palette")]


def _plain(widget: Widget) -> bool:
    """A key the footer updates in place: not grouped, not the palette key (docked)."""
    return isinstance(widget, FooterKey) and not (
        widget.has_class("-grouped") or widget.has_class("-command-palette")
    )
