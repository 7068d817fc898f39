"""Command palette (Ctrl+P): every action of the registry in force here, and "Go to guest …".

Titles are readable with their key ("Start guest  (s)"); an action refused now (read-only) says
"(read-only)" and, when chosen, tells why instead of running. Every string is shown as plain
text: guest names may hold ``[``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from tui.ui import actions
from tui.ui.deck import Deck, deck_of
from tui.util import terminal_safe

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

Command = tuple[str, Callable[[], object], str]


def guest_choices(deck: Deck) -> list[tuple[str, str]]:
    """(label, key) of every guest, by name: what "Go to guest …" offers; choosing one calls
    ``deck.select_guest(key)``. The app's store answers (``deck.guest_choices()``)."""
    return list(deck.guest_choices())


async def run_registered(
    app: App[object], deck: Deck, action_id: str, screen: Screen[object] | None
) -> None:
    """Run a registry action from the palette on ``screen`` (the one it was opened on), or
    say why not."""
    if actions.refuse(deck, action_id):
        return
    await app.run_action(actions.BY_ID[action_id].action, screen)


def _scopes(screen: Screen[object] | None) -> tuple[str, ...]:
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
        app, deck = self.app, deck_of(self.screen)
        screen = self.screen
        out: list[Command] = [
            (title, partial(run_registered, app, deck, action_id, screen), help_text)
            for title, action_id, help_text in actions.palette_entries(
                deck.readonly, deck.settings.keymap, _scopes(screen)
            )
        ]
        for label, key in guest_choices(deck):
            title = f"Go to guest {terminal_safe(label)}"
            out.append((title, partial(deck.select_guest, key), "select this guest"))
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
