"""How the guest table looks: DataTable's look, line for line, at the cost of what changed.

The same component classes and CSS as Textual 8.2.8's DataTable, cells rendered through the
same ``Styled(Padding(cell))`` pipeline, the same meta (``row``, ``column``, ``fixed``,
``out_of_bounds``) and the same simplified strips: the SVG snapshots are byte-for-byte those of
the DataTable the guest table replaced. What it saves is work, with two caches:

- a cell's segments, keyed by its *value* (text, styles, justification, width): equal cells
  ("running", "—", "0B/s") are rendered once for every row that shows them;
- a styled cell, keyed by that and the styles around it (stripe, cursor, focus): a sort, a
  scroll or a focus change back and forth renders no cell again.

The meta (which holds the row index) is added per line. Public Textual API only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from rich.cells import get_character_cell_size
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.strip import Strip

if TYPE_CHECKING:
    from tui.ui.widgets.guest_table_lines import LineTable

CELL_PADDING = 1  # one space each side of every cell (DataTable's default)
Flags = tuple[bool, bool, bool, bool]  # header, fixed, hover, cursor

COMPONENT_CLASSES = {
    "datatable--cursor",
    "datatable--hover",
    "datatable--fixed",
    "datatable--fixed-cursor",
    "datatable--header",
    "datatable--header-cursor",
    "datatable--header-hover",
    "datatable--odd-row",
    "datatable--even-row",
}

# DataTable's DEFAULT_CSS (textual 8.2.8), for the line table.
DEFAULT_CSS = """
LineTable {
    background: $surface; color: $foreground; height: auto; max-height: 100%;
    &:focus {
        background-tint: $foreground 5%;
        & > .datatable--cursor {
            background: $block-cursor-background; color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .datatable--header { background-tint: $foreground 5%; }
        & > .datatable--fixed-cursor {
            color: $block-cursor-foreground; background: $block-cursor-background;
        }
    }
    &:dark { & > .datatable--even-row { background: $surface-darken-1 40%; } }
    & > .datatable--header { text-style: bold; background: $panel; color: $foreground; }
    &:ansi > .datatable--header { background: ansi_bright_blue; color: ansi_default; }
    & > .datatable--fixed { background: $secondary-muted; color: $foreground; }
    & > .datatable--odd-row { }
    & > .datatable--even-row { background: $surface-lighten-1 50%; }
    & > .datatable--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    & > .datatable--fixed-cursor {
        background: $block-cursor-blurred-background; color: $foreground;
    }
    & > .datatable--header-cursor { background: $accent-darken-1; color: $foreground; }
    & > .datatable--header-hover { background: $accent 30%; }
    & > .datatable--hover { background: $block-hover-background; }
}
"""


_NONE = Style.null()  # what Padding's default style ("none") parses to


def plain_cell(
    cell: Text, width: int, get_style: Callable[[str | Style], Style]
) -> list[Segment] | None:
    """The segments Rich gives ``Padding(cell, (0, 1))`` at ``width`` for the usual cell (one
    style, no spans, one cell per character, cut with an ellipsis, left or right), 20 times
    faster than rendering it; None for any other cell. tests/test_scale.py compares the two."""
    text = cell.plain
    if (
        cell.spans
        or not text
        or not cell.no_wrap
        or cell.overflow != "ellipsis"
        or cell.justify not in ("left", "right")
        or not text.isprintable()
        or not (text.isascii() or all(get_character_cell_size(c) == 1 for c in text))
    ):
        return None
    room = width - 2 * CELL_PADDING
    if room < 1:
        return None
    if cell.justify == "right":
        text = text.rstrip()
    if len(text) > room:
        text = text[: room - 1] + "…"
    text = text.rjust(room) if cell.justify == "right" else text.ljust(room)
    style = get_style(cell.style) if cell.style else None
    pad = Segment(" " * CELL_PADDING, _NONE)
    return [pad, Segment(text, style), pad]


class LinePainter:
    """Renders a :class:`LineTable`'s lines (its columns, styles and state)."""

    def __init__(self, table: LineTable) -> None:
        self.table = table
        self._cells: LRUCache[tuple[object, ...], list[Segment]] = LRUCache(4096)
        self._styled: LRUCache[tuple[object, ...], list[Segment]] = LRUCache(4096)
        self._styles: dict[tuple[bool, ...], tuple[Style, Style]] = {}
        self._components: dict[str, Style] = {}
        self._metas: LRUCache[tuple[int, int], Style] = LRUCache(8192)
        self.cell_renders = 0  # cells rendered to segments (cache misses): tests, the bench

    def clear(self, cells: bool = True) -> None:
        """Forget the styles (they follow the CSS); ``cells``: the rendered cells too."""
        if cells:
            self._cells.clear()
            self._styled.clear()
        self._styles.clear()
        self._components.clear()

    def _fixed_style(self) -> Style:
        style = self._components.get("fixed+meta")
        if style is None:
            fixed = self._component("datatable--fixed") + Style.from_meta({"fixed": True})
            style = self._components["fixed+meta"] = fixed
        return style

    def cell_styles(self, *flags: bool) -> tuple[Style, Style]:
        """(component style, post style): DataTable's ``_get_styles_to_render_cell``."""
        flags = (*flags, self.table.hover_shown)
        hit = self._styles.get(flags)
        if hit is not None:
            return hit
        header, fixed, hover, cursor, _ = flags
        get = self.table.get_component_rich_style
        component = Style()
        if hover and self.table.show_cursor and self.table.hover_shown:
            component += get("datatable--hover")
            if header:
                component += get("datatable--header-hover")
        if cursor and self.table.show_cursor:
            component += get("datatable--cursor")
            if header:
                component += get("datatable--header-cursor")
            elif fixed:
                component += get("datatable--fixed-cursor")
        post = Style.from_color(color=component.color) + Style.from_color(bgcolor=component.bgcolor)
        self._styles[flags] = (component, post)
        return component, post

    def _cell_segments(self, cell: Text, width: int) -> list[Segment]:
        """A cell padded to its column's width, before any table style. Cached by value:
        equal cells ("running", "—", "0B/s") share their segments across rows."""
        key = (cell.plain, cell.style, *cell.spans, cell.justify, cell.overflow, width)
        hit = self._cells.get(key)
        if hit is not None:
            return hit
        console = self.table.app.console
        line = plain_cell(cell, width, console.get_style)
        if line is None:
            options = self.table.app.console_options.update_dimensions(width, 1).update(
                no_wrap=True
            )
            line = console.render_lines(Padding(cell, (0, CELL_PADDING)), options)[0]
        self.cell_renders += 1
        self._cells[key] = line
        return line

    def _styled_cell(self, cell: Text, width: int, base: Style, flags: Flags) -> list[Segment]:
        """DataTable's cell without its meta: ``Styled(Padding(cell), base + component, post)``.
        Cached by value and styles: stripes, cursor and focus take a few values, and a focus
        change back and forth finds its cells again."""
        component, post = self.cell_styles(*flags)
        key = (cell.plain, cell.style, *cell.spans, cell.justify, width, base, component, post)
        hit = self._styled.get(key)
        if hit is not None:
            return hit
        segments = self._cell_segments(cell, width)
        styled = list(Segment.simplify(Segment.apply_style(segments, base + component, post)))
        self._styled[key] = styled
        return styled

    def _with_meta(self, segments: list[Segment], row: int, column: int) -> Iterable[Segment]:
        meta = self._metas.get((row, column))
        if meta is None:
            meta = self._metas[(row, column)] = Style.from_meta({"row": row, "column": column})
        return Segment.apply_style(segments, post_style=meta)

    def _component(self, name: str) -> Style:
        style = self._components.get(name)
        if style is None:
            style = self._components[name] = self.table.get_component_styles(name).rich_style
        return style

    def line(
        self,
        cells: Sequence[Text],
        index: int,
        cursor: bool,
        hover: bool,
        scroll_x: int,
        width: int,
        base: Style,
    ) -> Strip:
        header = index < 0
        if header:
            row_style = fixed_style = self._component("datatable--header")
        else:
            stripe = "datatable--odd-row" if index % 2 else "datatable--even-row"
            row_style = self._component(stripe)
            fixed_style = self._fixed_style()
        columns = self.table.columns
        fixed_n = min(self.table.fixed_columns, len(columns))
        fixed_width = sum(c.render_width for c in columns[:fixed_n])
        fixed: list[Segment] = []
        flags: Flags = (header, not header, hover, cursor)
        for col in range(fixed_n):
            segs = self._styled_cell(cells[col], columns[col].render_width, fixed_style, flags)
            fixed += self._with_meta(segs, index, col)
        # The scrollable part: every column after the fixed ones, then the row's style to the
        # right edge (scrolled sideways: DataTable's crop, after the fixed columns' room).
        scrollable: list[Segment] = []
        flags = (header, False, hover, cursor)
        for col in range(fixed_n, len(columns)):
            segs = self._styled_cell(cells[col], columns[col].render_width, row_style, flags)
            scrollable += self._with_meta(segs, index, col)
        extend, _ = self.cell_styles(header, False, hover, cursor)
        extend_style = (
            row_style + extend + Style.from_meta({"row": index, "column": 0, "out_of_bounds": True})
        )
        total = sum(c.render_width for c in columns)
        if scroll_x == 0 and total <= width:
            # DataTable's crop and simplify change nothing here: each cell is simplified
            # already and no two cells share a style (their meta differs); only the filler
            # after the last column is cut to the width.
            filler = [Segment(" " * (width - total), extend_style)] if width > total else []
            return Strip([*fixed, *scrollable, *filler], width)
        remaining = max(0, width - (total - fixed_width))
        scrollable.insert(0, Segment(" " * fixed_width))
        scrollable.append(Segment(" " * remaining, extend_style))
        visible = Strip(scrollable).crop(scroll_x + fixed_width, scroll_x + width)
        return Strip([*fixed, *visible]).adjust_cell_length(width, base).simplify()
