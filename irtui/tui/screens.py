"""Modal screens: the confirmation of a plan, the target prompt, and help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from irtui.core.plan import Plan


class ConfirmScreen(ModalScreen[bool]):
    """Shows a plan's exact commands and targets; dismisses with True only on an explicit
    confirm. Focus starts on Cancel. When ``require`` is set the responder must type it
    (e.g. the host name before isolating) before Confirm works."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "confirm", "Confirm", id="confirm.confirm"),
    ]

    def __init__(self, plan: Plan, require: str | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.require = require

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(f"Confirm: {self.plan.summary}", id="confirm-title")
            with VerticalScroll(id="confirm-plan"):
                yield Static(self.plan.render(), markup=False, id="confirm-commands")
            if self.require:
                yield Input(placeholder=f"type {self.require} to confirm", id="confirm-typed")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel (n)", id="cancel", variant="primary")
                yield Button("Confirm (y)", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def _typed_ok(self) -> bool:
        if not self.require:
            return True
        return self.query_one("#confirm-typed", Input).value.strip() == self.require

    def action_confirm(self) -> None:
        if self._typed_ok():
            self.dismiss(True)
        else:
            self.notify(f"type {self.require} first", severity="warning")
            self.query_one("#confirm-typed", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _pressed_confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _pressed_cancel(self) -> None:
        self.dismiss(False)

    @on(Input.Submitted, "#confirm-typed")
    def _typed(self) -> None:
        self.action_confirm()


@dataclass(frozen=True)
class TargetRequest:
    """What the responder typed in :class:`TargetPrompt`: raw text, validated by the core."""

    targets: str
    ttl: str
    hosts: str


class TargetPrompt(ModalScreen[TargetRequest | None]):
    """Asks for addresses, TTL and hosts for a block or unblock. Enter submits, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, title: str, hosts: str, ttl: str | None) -> None:
        super().__init__()
        self.title_text = title
        self.hosts = hosts
        self.ttl = ttl

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(self.title_text, id="prompt-title")
            yield Input(placeholder="address or CIDR, e.g. 203.0.113.7 2001:db8::/32",
                        id="prompt-targets")
            if self.ttl is not None:
                yield Input(value=self.ttl, placeholder="TTL: 30m, 24h, 7d or permanent",
                            id="prompt-ttl")
            yield Input(value=self.hosts, placeholder="hosts: name, @group or all",
                        id="prompt-hosts")
            yield Label("Enter: review plan   Esc: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-targets", Input).focus()

    @on(Input.Submitted)
    def _submit(self) -> None:
        targets = self.query_one("#prompt-targets", Input).value.strip()
        if not targets:
            self.notify("type an address or CIDR", severity="warning")
            self.query_one("#prompt-targets", Input).focus()
            return
        ttl = self.query_one("#prompt-ttl", Input).value if self.ttl is not None else ""
        self.dismiss(TargetRequest(targets, ttl.strip(),
                                   self.query_one("#prompt-hosts", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Lists every key binding of the app (generated from its BINDINGS)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        text = "\n".join(f"{key:>10}  {desc}" for key, desc in self.rows)
        with Vertical(id="help-box"):
            yield Label("irtui keys", id="help-title")
            yield Static(text, markup=False)
            yield Label("Esc: close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
