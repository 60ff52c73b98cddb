"""Modal screens: the confirmation of a plan, the target prompt, quitting while an action
runs, and help.

Every modal here dismisses at most once (:class:`OnceModal`): keys typed quickly are queued
before the first dismiss pops the screen, and a second dismiss would pop the screen under it
(or crash with ``ScreenStackError`` when there is none) and run the result callback twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen, ScreenResultType
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from irtui.core.durations import parse_ttl
from irtui.core.errors import InvalidTargetError
from irtui.core.plan import Plan


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

    @property
    def dismissed(self) -> bool:
        """True once the screen has been dismissed (its result was delivered)."""
        return self._dismissed

    def dismiss(self, result: ScreenResultType | None = None) -> AwaitComplete:
        if self._dismissed or not self.is_active:
            return AwaitComplete.nothing()
        self._dismissed = True
        return super().dismiss(result)


class ConfirmScreen(OnceModal[bool]):
    """Shows a plan's exact commands and targets; dismisses with True only on an explicit
    confirm. Without ``require`` focus starts on Cancel (Enter cancels, ``y`` confirms).
    With ``require`` (e.g. the host name before isolating) focus starts in the field where
    the responder types it (``y`` and ``n`` are just letters there); Enter confirms only
    once the field matches exactly, else it warns and the dialog stays."""

    FLEX = "#confirm-plan"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "confirm", "Confirm", id="confirm.confirm"),
    ]

    def __init__(self, plan: Plan, require: str | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.require = require

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal-box"):
            yield Label(f"Confirm: {self.plan.summary}", id="confirm-title",
                        classes="modal-title", markup=False)
            with VerticalScroll(id="confirm-plan"):
                yield Static(self.plan.render(), markup=False, id="confirm-commands")
            if self.require:
                with Horizontal(id="confirm-typed-row", classes="modal-row"):
                    yield Label("Type:", classes="modal-label")
                    yield Input(placeholder=f"{self.require} then Enter to confirm",
                                id="confirm-typed", compact=True)
            with Horizontal(id="confirm-buttons", classes="modal-buttons"):
                cancel, confirm = (("Cancel (esc)", "Confirm (⏎)") if self.require
                                   else ("Cancel (n)", "Confirm (y)"))
                yield Button(cancel, id="cancel", variant="primary", compact=True)
                yield Button(confirm, id="confirm", variant="error", compact=True)

    def on_mount(self) -> None:
        if self.require:
            self.query_one("#confirm-typed", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def _typed_ok(self) -> bool:
        if not self.require:
            return True
        return self.query_one("#confirm-typed", Input).value.strip() == self.require

    def action_confirm(self) -> None:
        if self.dismissed:
            return
        if self._typed_ok():
            self.dismiss(True)
        else:
            self.notify(f"type {self.require} exactly to confirm (Esc cancels)",
                        severity="warning")
            self.query_one("#confirm-typed", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _pressed_confirm(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _pressed_cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    @on(Input.Submitted, "#confirm-typed")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()


@dataclass(frozen=True)
class TargetRequest:
    """What the responder typed in :class:`TargetPrompt`: raw text, validated by the core."""

    targets: str
    ttl: str
    hosts: str


class TargetPrompt(OnceModal[TargetRequest | None]):
    """Asks for addresses, TTL and hosts for a block or unblock. Enter submits, Esc cancels.

    The TTL follows the CLI's ``--ttl`` rule (:func:`irtui.core.durations.parse_ttl`): the
    field comes prefilled with ``firewall.default_ttl``; an empty or invalid TTL is refused
    here with the CLI's message and the dialog stays open; ``permanent`` is typed out.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, title: str, hosts: str, ttl: str | None) -> None:
        super().__init__()
        self.title_text = title
        self.hosts = hosts
        self.ttl = ttl

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box", classes="modal-box"):
            yield Label(self.title_text, id="prompt-title", classes="modal-title", markup=False)
            with Horizontal(classes="modal-row"):
                yield Label("Address:", classes="modal-label")
                yield Input(placeholder="address or CIDR, e.g. 203.0.113.7 2001:db8::/32",
                            id="prompt-targets", compact=True)
            if self.ttl is not None:
                with Horizontal(classes="modal-row"):
                    yield Label("TTL:", classes="modal-label")
                    yield Input(value=self.ttl,
                                placeholder="required: 30m, 24h, 7d or permanent",
                                id="prompt-ttl", compact=True)
            with Horizontal(classes="modal-row"):
                yield Label("Hosts:", classes="modal-label")
                yield Input(value=self.hosts, placeholder="name, @group or all",
                            id="prompt-hosts", compact=True)
            yield Label("Enter: review plan · Tab: next field · Esc: cancel",
                        classes="hint modal-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-targets", Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        if self.dismissed:
            return
        targets = self.query_one("#prompt-targets", Input).value.strip()
        if not targets:
            self.notify("type an address or CIDR", severity="warning")
            self.query_one("#prompt-targets", Input).focus()
            return
        ttl = self.query_one("#prompt-ttl", Input).value if self.ttl is not None else ""
        if self.ttl is not None:
            try:
                parse_ttl(ttl)
            except InvalidTargetError as exc:
                self.notify(exc.line, severity="error", markup=False)
                self.query_one("#prompt-ttl", Input).focus()
                return
        self.dismiss(TargetRequest(targets, ttl.strip(),
                                   self.query_one("#prompt-hosts", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitScreen(OnceModal[bool]):
    """Asks before quitting while an action runs; ``question`` says what quitting means for
    each busy host (e.g. when it rolls back by itself). Focus starts on Stay: Enter, ``n``
    and Esc stay, ``y`` quits anyway."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "stay", "Stay", id="quit.stay"),
        Binding("y", "quit_anyway", "Quit anyway", id="quit.anyway"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box", classes="modal-box"):
            yield Label("Quit while an action runs?", classes="modal-title")
            yield Static(self.question, id="quit-question", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Stay (n)", id="stay", variant="primary", compact=True)
                yield Button("Quit anyway (y)", id="quit-anyway", variant="error",
                             compact=True)

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def action_stay(self) -> None:
        self.dismiss(False)

    def action_quit_anyway(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#stay")
    def _pressed_stay(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    @on(Button.Pressed, "#quit-anyway")
    def _pressed_quit(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True)


def key_display(keys: str) -> str:
    """``question_mark,f1`` → ``?/F1``; ``ctrl+r`` stays ``ctrl+r``; ``slash`` → ``/``."""
    shown = []
    for key in keys.split(","):
        *modifiers, name = key.strip().split("+")
        name = format_key(name)
        if len(name) > 1 and name[0] == "f" and name[1:].isdigit():
            name = name.upper()
        shown.append("+".join([*modifiers, name]))
    return "/".join(shown)


class HelpScreen(OnceModal[None]):
    """Lists every key binding of the app (generated from its BINDINGS); scrolls when the
    terminal is short."""

    FLEX = "#help-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self.rows), default=0)
        text = "\n".join(f"{key:>{width}}  {desc}" for key, desc in self.rows)
        with Vertical(id="help-box", classes="modal-box"):
            yield Label("irtui keys", id="help-title", classes="modal-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(text, markup=False, id="help-text")
            yield Label("Esc: close · ↑↓: scroll", classes="hint modal-hint")

    def on_mount(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
