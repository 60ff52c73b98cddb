"""The live log: remote stdout/stderr lines prefixed by host, irtui's own notes and errors."""

from __future__ import annotations

from rich.highlighter import Highlighter
from rich.text import Text
from textual.widgets import Log

STDERR_MARK = " ! "
STDOUT_MARK = " | "
ERROR_MARK = "✗ "
"""Starts irtui's own error lines in the log; the app also shows them as a toast."""
WAIT_MARK = "⏳ "
"""Starts the log's countdown lines (waiting for a host): highlighted, not an error."""


class _StreamHighlighter(Highlighter):
    """Colours stderr and error lines of the log so they stand out from stdout."""

    def __init__(self, error_style: str, dim_style: str) -> None:
        self.error_style = error_style
        self.dim_style = dim_style

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if (STDERR_MARK in plain[:40] or plain.startswith(ERROR_MARK)
                or plain.startswith(WAIT_MARK)):
            text.stylize(self.error_style)
        elif plain.startswith("$ ") or plain.startswith("── "):
            text.stylize(self.dim_style)


class LogPanel(Log):
    """The live log: remote stdout/stderr lines prefixed by host, bounded to ``max_lines``."""

    def on_mount(self) -> None:
        theme = self.app.current_theme
        self.highlight = True
        self.highlighter = _StreamHighlighter(f"bold {theme.error or 'red'}",
                                              f"{theme.accent or 'yellow'}")
