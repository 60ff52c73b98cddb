"""The header line: irtui, the current incident, read-only mode, the config, and the UTC
clock (the clock the log's times and the record use)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from irtui.tui.cells import clip


class StatusHeader(Widget):
    """One line: ``irtui · INC-2026-0042 · title (status)`` on the left, ``READ-ONLY`` and
    the config path in the middle, ``HH:MM:SS UTC`` on the right.

    Args:
        source: the config path (or ``config``).
        clock: seconds since the epoch (injectable, so screenshots in tests are fixed).
        read_only: show the read-only badge.
    """

    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """
    incident: reactive[str] = reactive("")

    def __init__(self, source: str, clock: Callable[[], float] = time.time,
                 read_only: bool = False) -> None:
        super().__init__(id="status-header")
        self.source = source
        self.clock = clock
        self.read_only = read_only

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def render(self) -> Text:
        width = self.size.width
        clock = time.strftime(" %H:%M:%S UTC ", time.gmtime(self.clock()))
        badge = " READ-ONLY " if self.read_only else ""
        room = width - len(clock) - len(badge)
        left = clip(f" irtui · {self.incident or '…'}", max(1, room - 2))
        source = self.source if room - len(left) - 4 > 12 else ""
        source = clip(source, max(0, room - len(left) - 4))
        gap = max(1, room - len(left) - len(source))
        theme = self.app.current_theme
        text = Text(no_wrap=True, overflow="crop")
        text.append(left, style="bold")
        text.append(" " * (gap // 2))
        if badge:
            text.append(badge, style=f"bold reverse {theme.warning or 'yellow'}")
        text.append(source, style="dim")
        text.append(" " * (gap - gap // 2))
        text.append(clock)
        return text
