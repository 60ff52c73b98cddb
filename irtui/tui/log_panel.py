"""The live log: remote stdout/stderr lines tagged by host, irtui's own notes and errors, each
with its time (UTC).

A line-API widget (Textual's ``ScrollView`` + ``render_line``, as Toolong and Textual's own
``Log`` do): it keeps at most ``max_lines`` plain tuples and formats only the lines on screen,
so 200,000 streamed lines cost a bounded amount of memory and the same time per frame. The
full transcript is on disk (the session transcript and the incident record's artifacts).

Keys (from :mod:`irtui.tui.registry`): ``h`` one host's lines only, ``s`` streams (all /
stderr and errors / stdout), Enter the line under the cursor in full, End follow again.
Scrolled up, new lines are counted in the border ("+12 new lines — End").
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from irtui.tui.cells import CursorActions
from irtui.tui.registry import LOG, bindings

STDERR_MARK = " ! "
STDOUT_MARK = " | "
ERROR_MARK = "✗ "
"""Starts irtui's own error lines in the log; the app also shows them as a toast."""
WAIT_MARK = "⏳ "
"""Starts the log's countdown lines (waiting for a host): highlighted, not an error."""

NOTE, OUT, ERR, ERROR, WAIT, CMD, HEAD = range(7)
"""Kinds of log lines: irtui's note, remote stdout, remote stderr, irtui's error, a wait,
a command sent, a header (``── …``)."""
STREAMS = ("stdout + stderr", "stderr and errors", "stdout")
"""What ``s`` cycles through (index = :attr:`LogPanel.streams`)."""
_LOUD = {ERR, ERROR, WAIT}
TIME_WIDTH = 9
"""``HH:MM:SS `` before each line."""


class LogLine(NamedTuple):
    """One line of the log: ``seq`` orders lines; ``ts`` seconds since the epoch; ``host``
    the host it is about (``""`` for irtui's own lines); ``kind`` one of the kinds above."""

    seq: int
    ts: float
    host: str
    kind: int
    text: str


def classify(text: str, hosts: Iterable[str] = ()) -> tuple[str, int]:
    """``(host, kind)`` of a line written as plain text (``host1 | out``, ``host1 ! err``,
    ``✗ host1: …``, ``$ host1: cmd``, ``── …``); ``hosts`` are the names a line may be about."""
    head = text[:80]
    for mark, kind in ((STDERR_MARK, ERR), (STDOUT_MARK, OUT)):
        if mark in head:
            return head.split(mark, 1)[0], kind
    kind = (ERROR if text.startswith(ERROR_MARK) else WAIT if text.startswith(WAIT_MARK)
            else CMD if text.startswith("$ ") else HEAD if text.startswith("── ") else NOTE)
    body = text.split(" ", 1)[1] if kind != NOTE and " " in text else text
    name = body.split(":", 1)[0]
    return (name if name in hosts else ""), kind


class LogPanel(CursorActions, ScrollView, can_focus=True):
    """The bounded, filterable live log (see the module docstring)."""

    DEFAULT_CSS = """
    LogPanel {
        overflow-x: hidden;
        background: $surface;
        color: $foreground;
        & > .log--time { color: $text-muted; }
        & > .log--loud { color: $error; text-style: bold; }
        & > .log--dim { color: $accent; }
        & > .log--cursor { background: $block-cursor-blurred-background; }
        &:focus > .log--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"log--time", "log--loud", "log--dim",
                                             "log--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = bindings(LOG)

    class Detail(Message):
        """Enter on a line: show it in full."""

        def __init__(self, line: LogLine) -> None:
            super().__init__()
            self.line = line

    class Leave(Message):
        """Esc: the responder is done with the log."""

    def __init__(self, max_lines: int = 5000, *, clock: Callable[[], float] = time.time,
                 hosts: Sequence[str] = (), id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.clock = clock
        self.hosts = tuple(hosts)
        self.host_filter = ""
        """Only this host's lines ("" = every line)."""
        self.streams = 0
        """Index into :data:`STREAMS`."""
        self.cursor_row = 0
        """Index of the line under the cursor among the lines shown."""
        self.unseen = 0
        """Lines shown that arrived while the view was scrolled away from the end."""
        self._follow = True
        self._seq = 0
        self._lines: deque[LogLine] = deque(maxlen=max_lines)
        self._shown: deque[LogLine] = self._lines
        self._width = 0

    # ---- content ----------------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """Every line kept (unfiltered, without the time), oldest first."""
        return [line.text for line in self._lines]

    @property
    def shown(self) -> Sequence[LogLine]:
        """The lines the filters let through, oldest first."""
        return self._shown

    def write_lines(self, texts: Iterable[str]) -> None:
        """Append plain lines; their host and kind are read from their marks."""
        self.write_entries([(*classify(t, self.hosts), t) for t in texts])

    def write_entries(self, entries: Iterable[tuple[str, int, str]]) -> None:
        """Append ``(host, kind, text)`` lines, stamped now; the oldest go beyond
        ``max_lines``. Follows the end unless the responder scrolled away (then counts)."""
        now = self.clock()
        added = 0
        filtered = self._shown is not self._lines
        for host, kind, text in entries:
            self._seq += 1
            line = LogLine(self._seq, now, host, kind, text)
            self._lines.append(line)
            if filtered:
                if self._passes(line):
                    self._shown.append(line)
                    added += 1
            else:
                added += 1
            self._width = max(self._width, TIME_WIDTH + cell_len(text))
        if filtered and self._lines:
            first = self._lines[0].seq
            while self._shown and self._shown[0].seq < first:
                self._shown.popleft()
        self._changed(added)

    def clear(self) -> None:
        """Forget every line."""
        self._lines.clear()
        if self._shown is not self._lines:
            self._shown.clear()
        self.cursor_row, self.unseen, self._width, self._follow = 0, 0, 0, True
        self._changed(0)

    # ---- filters ----------------------------------------------------------------------

    def _passes(self, line: LogLine) -> bool:
        if self.host_filter and line.host != self.host_filter:
            return False
        if self.streams == 1:
            return line.kind in _LOUD
        if self.streams == 2:
            return line.kind == OUT
        return True

    def set_filter(self, host: str | None = None, streams: int | None = None) -> None:
        """Show only ``host``'s lines (``""``: all) and/or the streams of
        :data:`STREAMS` index ``streams``; the cursor stays on its line when it passes."""
        if host is not None:
            self.host_filter = host
        if streams is not None:
            self.streams = streams % len(STREAMS)
        keep = self._shown[self.cursor_row].seq if self._shown else None
        if not self.host_filter and not self.streams:
            self._shown = self._lines
        else:
            self._shown = deque(line for line in self._lines if self._passes(line))
        self.cursor_row = len(self._shown) - 1
        if keep is not None and not self._follow:
            for index, line in enumerate(self._shown):
                if line.seq >= keep:
                    self.cursor_row = index
                    break
        self._update_title()
        self._changed(0)

    def action_cycle_host(self) -> None:
        """``h``: the host of the line under the cursor, then the next host, then all."""
        names = ["", *self.hosts]
        under = self._shown[self.cursor_row].host if self._shown else ""
        if not self.host_filter and under:
            self.set_filter(host=under)
            return
        index = names.index(self.host_filter) if self.host_filter in names else 0
        self.set_filter(host=names[(index + 1) % len(names)])

    def action_cycle_streams(self) -> None:
        """``s``: stdout + stderr → stderr and errors → stdout → …"""
        self.set_filter(streams=self.streams + 1)

    def _update_title(self) -> None:
        parts = ["Log"]
        if self.host_filter:
            parts.append(f"host {self.host_filter}")
        if self.streams:
            parts.append(STREAMS[self.streams])
        self.border_title = " · ".join(parts)

    # ---- view -------------------------------------------------------------------------

    def _changed(self, added: int) -> None:
        count = len(self._shown)
        self.virtual_size = Size(self._width, count)
        if self._follow:
            self.cursor_row = max(0, count - 1)
            self.unseen = 0
            # after the next layout: the new virtual size is only known to the scrollbars then
            self.call_after_refresh(self._to_end)
        else:
            self.unseen += added
            self.cursor_row = min(self.cursor_row, max(0, count - 1))
        self.border_subtitle = (f"+{self.unseen:,} new line{'s' * (self.unseen != 1)} — End"
                                if self.unseen else "")
        self.refresh()

    def _to_end(self) -> None:
        if self._follow:
            self.scroll_to(y=max(0, len(self._shown) - self._page()), animate=False,
                           immediate=True)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def render_line(self, y: int) -> Strip:
        """Screen line ``y``: ``HH:MM:SS text``, styled by kind; only these are formatted."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        index = scroll_y + y
        if index >= len(self._shown):
            return Strip.blank(width, base)
        line = self._shown[index]
        stamp = time.strftime("%H:%M:%S ", time.gmtime(line.ts))
        style = base
        if line.kind in _LOUD:
            style = base + self.get_component_rich_style("log--loud")
        elif line.kind in (CMD, HEAD):
            style = base + self.get_component_rich_style("log--dim")
        time_style = base + self.get_component_rich_style("log--time")
        if index == self.cursor_row and (self.has_focus or not self._follow):
            cursor = self.get_component_rich_style("log--cursor")
            style, time_style = style + cursor, time_style + cursor
        strip = Strip([Segment(stamp, time_style), Segment(line.text, style)],
                      TIME_WIDTH + cell_len(line.text))
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def move_cursor(self, row: int) -> None:
        """Put the cursor on line ``row`` (clamped) and scroll it into view; on the last
        line new lines are followed again."""
        count = len(self._shown)
        self.cursor_row = max(0, min(row, count - 1))
        page = self._page()
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + page:
            self.scroll_to(y=self.cursor_row - page + 1, animate=False, immediate=True)
        self._follow = self.cursor_row >= count - 1
        if self._follow:
            self.unseen = 0
            self.border_subtitle = ""
        self.refresh()

    def action_cursor_page(self, pages: int) -> None:
        """A screen down (negative: up)."""
        self.move_cursor(self.cursor_row + pages * self._page())

    def action_follow(self) -> None:
        """The last line; new lines are followed again."""
        self.move_cursor(len(self._shown) - 1)

    def action_detail(self) -> None:
        """Enter: post :class:`Detail` for the line under the cursor."""
        if self._shown:
            self.post_message(self.Detail(self._shown[self.cursor_row]))

    def action_leave(self) -> None:
        """Esc: post :class:`Leave` (the app moves the focus back)."""
        self.post_message(self.Leave())

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._follow = False

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self.move_cursor(self.scroll_offset.y + offset.y)

    def on_resize(self) -> None:
        if self._follow:
            self._changed(0)

    def line_text(self, line: LogLine) -> str:
        """``line`` as the detail view shows it: its UTC date and time, host and text."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(line.ts))
        return f"{stamp}{' · ' + line.host if line.host else ''}\n\n{line.text}"

