"""The notify compose view's dialogs: a masked prompt for a secret (or the keyring file's
passphrase), the per-channel preview, and the retry offer after a failed channel."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from irtui.core.notify.dispatch import Preview
from irtui.core.notify.result import ChannelResult
from irtui.tui.screens import OnceModal


class SecretPrompt(OnceModal[str | None]):
    """Asks for one secret in a masked field (``Input(password=True)``: never shown, never
    logged). Enter submits the value, Esc cancels (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="secret.cancel"),
    ]

    def __init__(self, title: str, hint: str) -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="secret-box", classes="modal-box"):
            yield Label(self.title_text, classes="modal-title", markup=False)
            with Horizontal(classes="modal-row"):
                yield Label("Value:", classes="modal-label")
                yield Input(password=True, id="secret-value", compact=True,
                            placeholder="typed text is hidden")
            yield Label(self.hint, classes="hint modal-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#secret-value", Input).focus()

    @on(Input.Submitted, "#secret-value")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        field = self.query_one("#secret-value", Input)
        value = field.value
        if not value:
            self.notify("type the value, or Esc to cancel", severity="warning")
            return
        field.value = ""  # not kept in the widget once handed over
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PreviewScreen(OnceModal[None]):
    """What each channel would send, exactly (never a secret: see
    :func:`irtui.core.notify.dispatch.preview_one`). Esc closes."""

    FLEX = "#preview-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,ctrl+o", "close", "Close", id="preview.close"),
    ]

    def __init__(self, previews: list[Preview]) -> None:
        super().__init__()
        self.previews = previews

    def compose(self) -> ComposeResult:
        blocks = []
        for p in self.previews:
            head = f"── {p.channel} ({p.kind})"
            if p.problem is not None:
                head += f"\n   would not send: {p.problem.line}"
            blocks.append(head + ("\n" + p.text if p.text else ""))
        with Vertical(id="preview-box", classes="modal-box"):
            yield Label("Preview — what each channel would send", classes="modal-title")
            with VerticalScroll(id="preview-scroll"):
                yield Static("\n\n".join(blocks), markup=False, id="preview-text")
            yield Label("Esc: close · ↑↓: scroll", classes="hint modal-hint")

    def on_mount(self) -> None:
        self.query_one("#preview-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class RetryScreen(OnceModal[bool]):
    """After a send where some channels failed: shows each failure with the server's reply
    and asks whether to send again to those channels only (y) or not (n/Esc)."""

    FLEX = "#retry-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", id="retry.cancel"),
        Binding("y", "retry", "Retry", id="retry.retry"),
    ]

    def __init__(self, failed: list[ChannelResult]) -> None:
        super().__init__()
        self.failed = failed

    def compose(self) -> ComposeResult:
        names = ", ".join(r.channel for r in self.failed)
        with Vertical(id="retry-box", classes="modal-box"):
            yield Label(f"Sending failed on {names}", classes="modal-title", markup=False)
            with VerticalScroll(id="retry-scroll"):
                yield Static("\n".join(r.line for r in self.failed), markup=False,
                             id="retry-text")
            with Horizontal(classes="modal-buttons"):
                yield Button("Cancel (n)", id="retry-no", variant="primary", compact=True)
                yield Button(f"Retry {names} (y)", id="retry-yes", variant="warning",
                             compact=True)

    def on_mount(self) -> None:
        self.query_one("#retry-no", Button).focus()

    def action_retry(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#retry-yes")
    def _yes(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True)

    @on(Button.Pressed, "#retry-no")
    def _no(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)
