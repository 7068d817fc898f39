"""Command palette (Ctrl+P): every action of the registry in force here, and "Go to guest …".

Titles are readable with their key ("Start guest  (s)"); an action refused now (read-only) says
"(read-only)" and, when chosen, tells why instead of running. Every string is shown as plain
text: guest names may hold ``[``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from tui.ui import actions
from tui.util import terminal_safe

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

Command = tuple[str, Callable[[], object], str]


def guest_choices(app: App[Any]) -> list[tuple[str, str]]:
    """(label, key) of every guest, by name: what "Go to guest …" offers; choosing one calls
    ``app.select_guest(key)``. The app's store answers (``app.guest_choices()``)."""
    own = getattr(app, "guest_choices", None)
    return list(own()) if callable(own) else []


async def run_registered(app: App[Any], action_id: str, screen: Screen[Any] | None) -> None:
    """Run a registry action from the palette on ``screen`` (the one it was opened on), or
    say why not."""
    if actions.refuse(app, action_id):
        return
    await app.run_action(actions.BY_ID[action_id].action, screen)


def _scopes(screen: Screen[Any] | None) -> tuple[str, ...]:
    scope = actions.scope_of(screen) if screen is not None else None
    return ("global", scope or "main")


def highlight(matcher: Matcher, title: str) -> Content:
    """``title`` as plain text with the matched characters styled (Matcher.highlight would
    parse it as markup)."""
    content = Content(title)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class GuestCommands(Provider):
    def _commands(self) -> list[Command]:
        app = self.app
        keymap = getattr(getattr(app, "settings", None), "keymap", None)
        readonly = bool(getattr(app, "readonly", False))
        screen = self.screen
        out: list[Command] = [
            (title, partial(run_registered, app, action_id, screen), help_text)
            for title, action_id, help_text in actions.palette_entries(
                readonly, keymap, _scopes(screen)
            )
        ]
        select = getattr(app, "select_guest", None)
        if callable(select):
            for label, key in guest_choices(app):
                title = f"Go to guest {terminal_safe(label)}"
                out.append((title, partial(select, key), "select this guest"))
        return out

    async def discover(self) -> Hits:
        for title, cb, help_text in self._commands():
            yield DiscoveryHit(Content(title), cb, text=title, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, cb, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, highlight(matcher, title), cb, text=title, help=escape(help_text))
