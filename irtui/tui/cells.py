"""Fitting text into table cells (shared by the host table and the blocklist)."""

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
