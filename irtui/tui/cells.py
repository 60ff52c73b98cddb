"""Fitting text into table cells, marking rows and moving a line cursor (shared by the host
table, the blocklist and the log)."""

from __future__ import annotations


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending with ``…`` when it was cut.

    Args:
        text: any text.
        width: the most characters to keep (>= 1).

    Returns:
        ``text`` itself if it fits, else its first ``width - 1`` characters and ``…``.
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def toggle(marked: dict[str, None], key: str) -> None:
    """Mark ``key`` in ``marked`` (an ordered set), or unmark it when it was marked."""
    if key in marked:
        del marked[key]
    else:
        marked[key] = None


class CursorActions:
    """``j``/``k``/``g`` for a widget with a line cursor (``cursor_row`` and
    ``move_cursor(row)``, which clamps and scrolls)."""

    cursor_row: int

    def move_cursor(self, row: int) -> None:  # pragma: no cover - each widget has its own
        raise NotImplementedError

    def action_cursor_down(self) -> None:
        """Down one row (``j``, ``↓``)."""
        self.move_cursor(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        """Up one row (``k``, ``↑``)."""
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_first(self) -> None:
        """To the first row (``g``, ``home``)."""
        self.move_cursor(0)
