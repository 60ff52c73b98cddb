"""The notify pane: compose an email to the team."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, TextArea


class NotifyPane(Vertical):
    """Compose an email to the team; the body is prefilled with the session's summary and
    refreshed after each action unless the responder edited it. Esc leaves the fields (to
    the tab bar) so the app's keys work again."""

    HINT = "ctrl+s send · ctrl+l summary · esc leave"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Leave the form", show=False, id="notify.leave"),
    ]

    class Send(Message):
        """The responder asked to send what is in the form."""

        def __init__(self, to: list[str], subject: str, body: str) -> None:
            super().__init__()
            self.to = to
            self.subject = subject
            self.body = body

    def __init__(self, default_to: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.default_to = default_to
        self._filled: str | None = None
        """The body text irtui last put there (None: never filled)."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="notify-row"):
            yield Label("To:", classes="notify-label")
            yield Input(", ".join(self.default_to), id="notify-to", compact=True,
                        placeholder="addresses, comma-separated")
        with Horizontal(classes="notify-row"):
            yield Label("Subject:", classes="notify-label")
            yield Input("[irtui] containment update", id="notify-subject", compact=True)
        yield TextArea(id="notify-body", soft_wrap=True)
        yield Label(self.HINT, id="notify-hint", classes="hint", markup=False)

    def fill_body(self, text: str) -> None:
        """Replace the body with ``text``."""
        body = self.query_one("#notify-body", TextArea)
        body.text = text
        self._filled = body.text

    def refill_body(self, text: str) -> bool:
        """Replace the body with ``text`` only if the responder has not edited what irtui
        last put there (a draft is never overwritten). Returns True if it was replaced."""
        current = self.query_one("#notify-body", TextArea).text
        if self._filled is not None and current != self._filled:
            return False
        self.fill_body(text)
        return True

    def request_send(self) -> None:
        """Post :class:`Send` with the form's content."""
        to = [a.strip() for a in self.query_one("#notify-to", Input).value.split(",")
              if a.strip()]
        self.post_message(self.Send(to, self.query_one("#notify-subject", Input).value,
                                    self.query_one("#notify-body", TextArea).text))

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#notify-body", TextArea).focus()

    def action_leave(self) -> None:
        """Esc: focus the tab bar (1/2/3, q and ? work again; Tab comes back in)."""
        tabs = self.screen.query("#tabs Tabs")
        if tabs:
            tabs.first().focus()
        else:
            self.screen.set_focus(None)
