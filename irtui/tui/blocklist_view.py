"""The blocklist pane: the aggregated blocklist as a line-API table, its status line and its
filter line."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from irtui.tui.blocklist import (
    DEADLINE,
    EMPTY_MODEL,
    LABELS,
    ORDER,
    BlockModel,
    BlockRow,
    aggregate_blocks,
    countdown,
    status_line,
)
from irtui.tui.cells import CursorActions, toggle
from irtui.tui.host_view import HostView
from irtui.tui.registry import BLOCKS, bindings

COLUMNS = ("Entry", "Fam", "Hosts", "Expires in", "Mark")
ENTRY, FAM, HOSTS, EXPIRES, MARK = range(len(COLUMNS))
FIXED_WIDTHS = {FAM: 3, EXPIRES: 10}
"""Columns whose content has a known width (``v4``; ``permanent``, ``23h59m``, ``9d23h``);
the others fit their widest cell among the rows shown."""
PAD = 1
"""Blank cells on each side of a cell (as DataTable's ``cell_padding``)."""
MARK_CELL = "●"
"""Drawn in the blank cell before a marked entry."""


class BlockTable(CursorActions, ScrollView, can_focus=True, inherit_bindings=False):
    """Blocklist entries aggregated across hosts: one row per entry (key: the entry text),
    with the hosts where it is blocked, the soonest expiry counting down, and a mark when
    only some hosts of a group have it. ``space`` marks entries (``●`` before the entry);
    :meth:`targets` gives what an unblock applies to.

    Built for 50,000+ rows with Textual's public line API (the way Toolong and Textual's
    ``Log`` render huge files): the table keeps no per-row objects, only the model from
    :func:`aggregate_blocks` (built in a worker) and the list of entries shown, and
    :meth:`render_line` formats just the lines on screen. So :meth:`apply` costs one pass to
    size the columns, wherever the rows moved; the cursor stays on its entry (by key); the
    1 s :meth:`tick` repaints only the on-screen lines whose countdown text changed.
    """

    DEFAULT_CSS = """
    BlockTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .block-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .block-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .block-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .block-table--partial { color: $warning; }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "block-table--header", "block-table--cursor", "block-table--partial"}
    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings(BLOCKS),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
    ]

    class Counts(Message):
        """The number of entries (all / shown / partial / marked) or the filter changed."""

        def __init__(self, total: int, shown: int, partial: int, filter_text: str,
                     marked: int = 0, unreachable: tuple[str, ...] = ()) -> None:
            super().__init__()
            self.total = total
            self.shown = shown
            self.partial = partial
            self.filter_text = filter_text
            self.marked = marked
            self.unreachable = unreachable

    class Expired(Message):
        """An entry on screen has just run out on some host: time to read the hosts."""

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.filter_text = ""
        self.cursor_row = 0
        """Index of the row under the cursor among the rows shown."""
        self._model = EMPTY_MODEL
        self._keys: Sequence[str] = EMPTY_MODEL.order
        self._widths = self._fit()
        self._drawn: dict[int, tuple[str, str]] = {}
        """Screen line → (entry, countdown) it shows: what :meth:`tick` compares against."""
        self.marked: dict[str, None] = {}
        """Marked entries, in the order they were marked (kept while they exist)."""
        self._expired_told = False

    # ---- data --------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """How many rows are shown (after the filter)."""
        return len(self._keys)

    @property
    def keys(self) -> Sequence[str]:
        """The entries shown, top to bottom (read-only; replaced, never changed, by
        :meth:`apply` and :meth:`set_filter`)."""
        return self._keys

    def show(self, views: Sequence[HostView]) -> None:
        """Aggregate the hosts' blocklists and show them (on this thread; the app
        aggregates in a worker and calls :meth:`apply`)."""
        self.apply(aggregate_blocks([view.snapshot() for view in views], time.time()))

    def apply(self, model: BlockModel) -> None:
        """Show ``model`` (from :func:`aggregate_blocks`) through the current filter; the
        cursor stays on its entry, or moves to the next one if that is gone."""
        cursor = self._cursor_order()
        self._model = model
        self._expired_told = False
        if self.marked:
            self.marked = {k: None for k in self.marked if k in model.entries}
        self._display(model.matching(self.filter_text), cursor)

    def set_filter(self, text: str) -> None:
        """Show only entries whose text or host names contain ``text`` (case-insensitive);
        empty shows all."""
        self.filter_text = text.strip()
        self._display(self._model.matching(self.filter_text), self._cursor_order())

    def _cursor_order(self) -> int | None:
        """The sort key of the entry under the cursor (to find its place in new rows)."""
        if not self._keys:
            return None
        return self._model.entries[self._keys[self.cursor_row]][ORDER]

    def _display(self, keys: Sequence[str], cursor: int | None) -> None:
        self._keys = keys
        self._widths = self._fit()
        self.virtual_size = Size(sum(self._widths) + 2 * PAD * len(COLUMNS), len(keys) + 1)
        row = self.cursor_row
        if cursor is not None:
            entries = self._model.entries
            row = bisect_left(keys, cursor, key=lambda k: entries[k][ORDER])
        self.move_cursor(row)
        self.refresh()
        self._post_counts()

    def _post_counts(self) -> None:
        model = self._model
        self.post_message(self.Counts(len(model.entries), len(self._keys), model.partial,
                                      self.filter_text, len(self.marked), model.unreachable))

    def _fit(self) -> tuple[int, ...]:
        """Column widths: the widest cell of the rows shown (or the title), in cells."""
        model, keys = self._model, self._keys
        if keys is model.order:
            sets = model.sets.values()
        else:
            entries = model.entries
            sets = [model.sets[labels] for labels in {entries[k][LABELS] for k in keys}]
        widest = {ENTRY: max(map(len, keys), default=0),  # addresses: 1 cell per character
                  HOSTS: max((cell_len(s.hosts) for s in sets), default=0),
                  MARK: max((cell_len(s.mark) for s in sets), default=0)} | FIXED_WIDTHS
        return tuple(max(widest[i], cell_len(title)) for i, title in enumerate(COLUMNS))

    def get_row(self, entry: str) -> list[str]:
        """The cells of ``entry``'s row as they show now (``Entry``, ``Fam``, ``Hosts``,
        ``Expires in``, ``Mark``), shown or filtered out. Raises KeyError if no host has
        it."""
        return self._cells(entry, time.time())

    def get_row_at(self, index: int) -> list[str]:
        """The cells of row ``index`` among the rows shown. Raises IndexError."""
        return self._cells(self._keys[index], time.time())

    def _cells(self, entry: str, now: float) -> list[str]:
        deadline, family, _, labels = self._model.entries[entry]
        s = self._model.sets[labels]
        return [entry, "v6" if family == 6 else "v4", s.hosts, countdown(deadline, now),
                s.mark]

    # ---- rendering ---------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """Screen line ``y``: the header (``y == 0``), else the row at ``y`` after the
        scroll position; only these lines are ever formatted."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("block-table--header")
            return self._strip(list(COLUMNS), style, style, scroll_x, width)
        index = scroll_y + y - 1
        if index >= len(self._keys):
            self._drawn.pop(y, None)
            return Strip.blank(width, base)
        entry = self._keys[index]
        cells = self._cells(entry, time.time())
        self._drawn[y] = (entry, cells[EXPIRES])
        marked = entry in self.marked
        if index == self.cursor_row:
            style = base + self.get_component_rich_style("block-table--cursor")
            return self._strip(cells, style, style, scroll_x, width, marked)
        return self._strip(cells, base,
                           base + self.get_component_rich_style("block-table--partial"),
                           scroll_x, width, marked)

    def _strip(self, cells: list[str], style: Style, mark_style: Style, scroll_x: int,
               width: int, marked: bool = False) -> Strip:
        pad = " " * PAD
        text = "".join(pad + set_cell_size(cell, w) + pad
                       for cell, w in zip(cells[:MARK], self._widths, strict=False))
        if marked:
            text = MARK_CELL + text[1:]
        mark = pad + set_cell_size(cells[MARK], self._widths[MARK]) + pad
        strip = Strip([Segment(text, style), Segment(mark, mark_style)],
                      cell_len(text) + cell_len(mark))
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def visible_rows(self) -> range:
        """Indexes of the rows on screen now."""
        height = self.scrollable_content_region.height - 1  # the header
        if not self._keys or height <= 0:
            return range(0)
        top = self.scroll_offset.y
        return range(top, min(len(self._keys), top + height))

    def tick(self) -> int:
        """Repaint the on-screen lines whose countdown text changed (called every second).
        Returns how many lines that was."""
        now = time.time()
        entries = self._model.entries
        top = self.scroll_offset.y
        changed = 0
        expired = False
        for index in self.visible_rows():
            entry = self._keys[index]
            deadline = entries[entry][DEADLINE]
            if deadline is None:
                continue
            expired = expired or deadline <= now
            shown = (entry, countdown(deadline, now))
            y = index - top + 1
            if self._drawn.get(y) != shown:
                self._drawn[y] = shown
                self.refresh_line(index + 1)  # virtual line: the header is line 0
                changed += 1
        if expired and not self._expired_told:
            self._expired_told = True  # once per model: the app reads the hosts again
            self.post_message(self.Expired())
        return changed

    # ---- cursor ------------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        """Put the cursor on row ``row`` (clamped to the rows shown) and scroll it into
        view."""
        old = self.cursor_row
        self.cursor_row = max(0, min(row, len(self._keys) - 1))
        if old != self.cursor_row:
            self.refresh_line(old + 1)
            self.refresh_line(self.cursor_row + 1)
        self._scroll_to_cursor()

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        page = self.scrollable_content_region.height - 1
        if page <= 0:  # not laid out yet, or on a hidden tab: done on resize
            return
        top, row = self.scroll_offset.y, self.cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + page:
            self.scroll_to(y=row - page + 1, animate=False)

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    def action_cursor_page(self, pages: int) -> None:
        """Scroll ``pages`` screens down (negative: up); the cursor keeps its line."""
        rows = pages * self._page()
        self.scroll_to(y=self.scroll_offset.y + rows, animate=False)
        self.move_cursor(self.cursor_row + rows)

    def action_cursor_last(self) -> None:
        """To the last row (``G``, ``end``)."""
        self.move_cursor(len(self._keys) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:
            self.move_cursor(self.scroll_offset.y + offset.y - 1)

    # ---- selection -----------------------------------------------------------------------

    def row(self, entry: str) -> BlockRow | None:
        """The aggregated row of ``entry`` (shown or filtered out), if any host has it."""
        return self._model.row(entry)

    def selected(self) -> BlockRow | None:
        """The entry under the cursor."""
        return self._model.row(self._keys[self.cursor_row]) if self._keys else None

    def targets(self) -> list[BlockRow]:
        """What an unblock applies to: the marked entries (in table order), else the one
        under the cursor."""
        if self.marked:
            order = self._model.order
            rows = [self._model.row(k) for k in order if k in self.marked]
        else:
            rows = [self.selected()]
        return [row for row in rows if row is not None]

    def shown_rows(self) -> list[BlockRow]:
        """Every entry the table shows now (after the filter)."""
        return [row for row in map(self._model.row, self._keys) if row is not None]

    def action_toggle_mark(self) -> None:
        """``space``: mark or unmark the entry under the cursor, then move down."""
        if not self._keys:
            return
        toggle(self.marked, self._keys[self.cursor_row])
        self.refresh_line(self.cursor_row + 1)
        self._post_counts()
        self.action_cursor_down()

    def clear_marks(self) -> None:
        """Unmark every entry."""
        if self.marked:
            self.marked.clear()
            self.refresh()
            self._post_counts()


class FilterInput(Input):
    """The blocklist filter: filters as you type, Enter applies, Esc clears."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", id="filter.clear"),
    ]

    class Cleared(Message):
        """Esc: drop the filter."""

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())


class BlockPane(Vertical):
    """The blocklist table, a status line (counts, filter) and the filter line: ``/`` opens
    it (via the app), typing filters, Enter returns to the table, Esc clears (also from the
    table)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", show=False, id="blocks.clear"),
    ]

    def compose(self) -> ComposeResult:
        yield BlockTable(id="block-table")
        yield Static("no entries yet", id="block-status", markup=False)
        yield FilterInput(placeholder="filter: text in entry or host · Enter apply · Esc clear",
                          id="block-filter")

    def start_filter(self) -> None:
        """Show the filter input and focus it (at once where it can be focused already:
        ``focus()`` alone queues the change behind keys already read)."""
        field_ = self.query_one(FilterInput)
        field_.display = True
        self.screen.set_focus(field_)
        field_.focus()

    @on(Input.Changed, "#block-filter")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        table = self.query_one(BlockTable)
        if event.value.strip() != table.filter_text:
            table.set_filter(event.value)

    @on(Input.Submitted, "#block-filter")
    def _apply(self, event: Input.Submitted) -> None:
        event.stop()
        table = self.query_one(BlockTable)
        table.set_filter(event.value)
        self.query_one(FilterInput).display = bool(table.filter_text)
        table.focus()

    @on(FilterInput.Cleared)
    def action_clear_filter(self) -> None:
        """Show every entry again; without a filter, Esc clears the marks instead."""
        table = self.query_one(BlockTable)
        if not table.filter_text and not self.query_one(FilterInput).display:
            table.clear_marks()
        self.query_one(FilterInput).value = ""
        if table.filter_text:
            table.set_filter("")
        self.query_one(FilterInput).display = False
        table.focus()

    @on(BlockTable.Counts)
    def _counts(self, message: BlockTable.Counts) -> None:
        self.query_one("#block-status", Static).update(status_line(
            message.total, message.shown, message.partial, message.filter_text,
            message.marked, message.unreachable))
