"""A footer that keeps what matters when the terminal is narrow: keys are dropped by their
registry rank (:attr:`irtui.tui.registry.ActionSpec.footer`), least important first, so Help
and Quit stay even at 60 columns."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer

from irtui.tui.registry import footer_rank

PALETTE_EXTRA = 3
"""The palette key is docked right with a border and padding."""


def _is_key(widget: Widget) -> bool:
    """A footer key (Textual's ``FooterKey``, known by its public attributes: its class is
    not exported)."""
    return all(hasattr(widget, a) for a in ("action", "key_display", "description"))


def _width(key: Widget) -> int:
    """Cells the key takes in the (non-compact) footer: `` k `` + ``label ``."""
    label = cell_len(str(getattr(key, "description", "")))
    width = cell_len(str(getattr(key, "key_display", ""))) + 2 + (label + 1 if label else 0)
    return width + (PALETTE_EXTRA if key.has_class("-command-palette") else 0)


class KeyFooter(Footer):
    """Textual's footer, fitted to the width by rank."""

    def compose(self) -> ComposeResult:
        children: list[Widget] = list(super().compose())
        keys = [c for c in children if _is_key(c)]
        budget = self.size.width or self.app.size.width
        used = sum(_width(k) for k in keys)
        dropped: set[int] = set()
        tabs = self.app.query("#tabs")
        tab = str(getattr(tabs.first(), "active", "")) if tabs else ""

        def rank(key: Widget) -> int:
            return footer_rank(str(getattr(key, "action", "")), tab)

        for key in sorted(keys, key=lambda k: (rank(k), -keys.index(k)), reverse=True):
            if used <= budget:
                break
            if rank(key) <= 1:
                continue  # Help and Quit stay
            dropped.add(id(key))
            used -= _width(key)
        yield from (c for c in children if id(c) not in dropped)

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)
