"""The base of every dialog: a modal that dismisses at most once and fits small terminals.

Keys typed quickly are queued before the first dismiss pops the screen; a second dismiss
would pop the screen under it (or crash with ``ScreenStackError`` when there is none) and
run the result callback twice. :class:`OnceModal` makes later dismisses do nothing.
"""

from __future__ import annotations

from typing import ClassVar

from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, ScreenResultType
from textual.widget import Widget

SCROLL_BINDINGS: list[BindingType] = [
    Binding("pagedown", "scroll_flex('page_down')", "Page down", show=False),
    Binding("pageup", "scroll_flex('page_up')", "Page up", show=False),
    Binding("down", "scroll_flex('down')", "Down", show=False),
    Binding("up", "scroll_flex('up')", "Up", show=False),
    Binding("home", "scroll_flex('home')", "Top", show=False),
    Binding("end", "scroll_flex('end')", "Bottom", show=False),
]
"""Scroll the dialog's scrolling part whatever has the focus (a button, a field): no Tab
to reach it first."""


class OnceModal(ModalScreen[ScreenResultType]):
    """A modal whose :meth:`dismiss` only acts the first time, and only while it is the
    active screen; later calls (a second Enter already queued, ``y`` then Enter) do nothing."""

    FLEX: ClassVar[str] = ""
    """Selector of the part that scrolls (the plan, the help text): it gets the height the
    screen has left once the one-line parts (title, fields, hint, buttons) are placed."""

    _dismissed = False

    def on_mount(self) -> None:  # Textual also runs the subclasses' on_mount (MRO)
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        if not self.FLEX or not self.size.height:
            return
        flex = self.query_one(self.FLEX)
        box = flex.parent
        assert isinstance(box, Widget)
        fixed = box.styles.gutter.height
        for child in box.children:
            if child is flex or not child.display:
                continue
            height = child.styles.height
            fixed += (int(height.value) if height is not None and height.is_cells else 1)
            fixed += child.styles.margin.height
        flex.styles.max_height = max(1, self.size.height - fixed)

    def action_scroll_flex(self, how: str) -> None:
        """Scroll the :attr:`FLEX` part (``page_down``, ``page_up``, ``down``, ``up``,
        ``home``, ``end``)."""
        if not self.FLEX:
            return
        part = self.query_one(self.FLEX, VerticalScroll)
        {"page_down": part.scroll_page_down, "page_up": part.scroll_page_up,
         "down": part.scroll_down, "up": part.scroll_up, "home": part.scroll_home,
         "end": part.scroll_end}[how](animate=False)

    @property
    def dismissed(self) -> bool:
        """True once the screen has been dismissed (its result was delivered)."""
        return self._dismissed

    def dismiss(self, result: ScreenResultType | None = None) -> AwaitComplete:
        if self._dismissed or not self.is_active:
            return AwaitComplete.nothing()
        self._dismissed = True
        return super().dismiss(result)
