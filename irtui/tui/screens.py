"""Dialogs: the confirmation of a plan, quitting while an action runs, help, and a log line
in full. (The block/unblock prompt is in :mod:`irtui.tui.prompt`, re-exported here.)

Every dialog dismisses at most once (:class:`~irtui.tui.modal.OnceModal`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from irtui.core.plan import Plan
from irtui.core.plan_summary import Tone, failed_line, summarize
from irtui.tui.modal import SCROLL_BINDINGS, OnceModal
from irtui.tui.prompt import OrderedInput, Problem, TargetPrompt, TargetRequest
from irtui.tui.registry import key_display

__all__ = ["ConfirmScreen", "HelpScreen", "LogDetailScreen", "OnceModal", "Problem",
           "QuitScreen", "TargetPrompt", "TargetRequest", "key_display"]

TONE_STYLES = {Tone.HEAD: "bold", Tone.CHANGE: "", Tone.QUIET: "dim", Tone.WARN: "yellow",
               Tone.FAIL: "bold red"}


def summary_text(plan: Plan, error: str = "red", warning: str = "yellow") -> Text:
    """The plan's summary (:func:`irtui.core.plan_summary.summarize`) as styled text."""
    styles = {**TONE_STYLES, Tone.WARN: warning, Tone.FAIL: f"bold {error}"}
    text = Text(no_wrap=False)
    for index, line in enumerate(summarize(plan)):
        if index:
            text.append("\n")
        text.append(line.text, styles[line.tone])
    return text


class ConfirmScreen(OnceModal[bool]):
    """A plan, summary first (per host: to add, already present, refused and why, failed
    before any change); ``c`` shows the exact commands; PgUp/PgDn scroll wherever the focus
    is. Dismisses with True only on an explicit confirm. Without ``require`` focus starts
    on Cancel (Enter cancels, ``y`` confirms). With ``require`` (e.g. the host name before
    isolating) focus starts in the field where the responder types it (``y`` and ``n`` are
    just letters there); Enter confirms only once the field matches exactly.

    Args:
        plan: the plan to confirm.
        require: text to type to confirm, or None.
        reason: the reason field's prefilled value (the incident's), or None for no field;
            read :attr:`reason` after a confirm.
        capture: keep an SVG of the dialog in :attr:`screenshot` when confirmed.
    """

    FLEX = "#confirm-plan"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "confirm", "Confirm", id="confirm.confirm"),
        Binding("c", "toggle_commands", "Commands", id="confirm.commands"),
        *SCROLL_BINDINGS,
    ]

    def __init__(self, plan: Plan, require: str | None = None, *, reason: str | None = None,
                 capture: bool = False) -> None:
        super().__init__()
        self.plan = plan
        self.require = require
        self.reason = reason or ""
        self._with_reason = reason is not None
        self.capture = capture
        self.screenshot: str | None = None
        self.commands_shown = False

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal-box"):
            yield Label(f"Confirm: {self.plan.summary}", id="confirm-title",
                        classes="modal-title", markup=False)
            if self.plan.failed:
                yield Label(failed_line(self.plan), id="confirm-failed", markup=False)
            with VerticalScroll(id="confirm-plan", can_focus=False):
                yield Static(self._summary(), id="confirm-commands")
            if self._with_reason:
                with Horizontal(id="confirm-reason-row", classes="modal-row"):
                    yield Label("Reason:", classes="modal-label")
                    yield OrderedInput(self.reason, id="confirm-reason", compact=True,
                                placeholder="why (recorded with the action)")
            if self.require:
                with Horizontal(id="confirm-typed-row", classes="modal-row"):
                    yield Label("Type:", classes="modal-label")
                    yield OrderedInput(placeholder=f"{self.require} then Enter to confirm",
                                id="confirm-typed", compact=True)
            yield Label(self._hint(), id="confirm-hint", classes="hint modal-hint",
                        markup=False)
            with Horizontal(id="confirm-buttons", classes="modal-buttons"):
                cancel, confirm = (("Cancel (esc)", "Confirm (⏎)") if self.require
                                   else ("Cancel (n)", "Confirm (y)"))
                yield Button(cancel, id="cancel", variant="primary", compact=True)
                yield Button(confirm, id="confirm", variant="error", compact=True)

    def _hint(self) -> str:
        what = "summary" if self.commands_shown else "exact commands"
        return f"c: {what} · PgUp/PgDn: scroll" + ("" if self.require else " · y/n")

    def _summary(self) -> Text:
        theme = self.app.current_theme
        return summary_text(self.plan, theme.error or "red", theme.warning or "yellow")

    def on_mount(self) -> None:
        if self.require:
            self.query_one("#confirm-typed", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def action_toggle_commands(self) -> None:
        """``c``: the exact commands per host, or back to the summary."""
        self.commands_shown = not self.commands_shown
        body = self.query_one("#confirm-commands", Static)
        body.update(Text(self.plan.render()) if self.commands_shown else self._summary())
        self.query_one("#confirm-hint", Label).update(self._hint())
        self.query_one("#confirm-plan", VerticalScroll).scroll_home(animate=False)

    def _typed_ok(self, typed: str | None) -> bool:
        if not self.require:
            return True
        if typed is None:
            typed = self.query_one("#confirm-typed", Input).value
        return typed.strip() == self.require

    def action_confirm(self, typed: str | None = None) -> None:
        """Confirm, if the required text is typed (``typed``: the field as it was at Enter;
        keys that came after Enter are not part of it)."""
        if self.dismissed:
            return
        if not self._typed_ok(typed):
            self.notify(f"type {self.require} exactly to confirm (Esc cancels)",
                        severity="warning")
            self.query_one("#confirm-typed", Input).focus()
            return
        if self._with_reason:
            self.reason = self.query_one("#confirm-reason", Input).value.strip()
        if self.capture:
            self.screenshot = self.app.export_screenshot(title=f"confirmed: {self.plan.summary}")
        self.dismiss(True)

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
        self.action_confirm(event.value)

    @on(Input.Submitted, "#confirm-reason")
    def _reason_done(self, event: Input.Submitted) -> None:
        """Enter in the reason: back to the typed field, or to Cancel (never a confirm)."""
        event.stop()
        target = "#confirm-typed" if self.require else "#cancel"
        self.query_one(target).focus()


class QuitScreen(OnceModal[bool]):
    """Asks before quitting while an action runs; ``question`` says what quitting means for
    each busy host (e.g. when it rolls back by itself). Focus starts on Stay: Enter, ``n``
    and Esc stay, ``y`` quits anyway."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "stay", "Stay", id="quit.stay"),
        Binding("y", "quit_anyway", "Quit anyway", id="quit.anyway"),
    ]

    FOLLOW_SECONDS = 0.25
    """How often the question is read again while the dialog is open."""
    ENDED = ("nothing runs any more (the result is in the log): quitting changes nothing on "
             "any host")

    def __init__(self, question: str,
                 follow: Callable[[], str | None] | None = None) -> None:
        """``follow()`` gives the question as it is now (None: nothing runs any more); the
        dialog shows it live, so what it says is never older than :attr:`FOLLOW_SECONDS`
        (an isolation may reach its next phase while the responder reads)."""
        super().__init__()
        self.question = question
        self.follow = follow

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box", classes="modal-box"):
            yield Label("Quit while an action runs?", id="quit-title", classes="modal-title")
            yield Static(self.question, id="quit-question", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Stay (n)", id="stay", variant="primary", compact=True)
                yield Button("Quit anyway (y)", id="quit-anyway", variant="error",
                             compact=True)

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()
        if self.follow is not None:
            self.set_interval(self.FOLLOW_SECONDS, self._follow)

    def _follow(self) -> None:
        assert self.follow is not None
        now = self.follow() or self.ENDED
        if now != self.question:
            self.question = now
            self.query_one("#quit-question", Static).update(now)
            if now == self.ENDED:
                self.query_one("#quit-title", Label).update("Quit? The action has ended")

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


class HelpScreen(OnceModal[None]):
    """Every key (generated from :mod:`irtui.tui.registry`), then what each symbol means
    and the input syntax; scrolls when the terminal is short.

    Args:
        rows: ``(keys, description)``; a row with empty keys is a section title.
        notes: more lines after the keys (symbols, syntax), each non-empty.
    """

    FLEX = "#help-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
        *SCROLL_BINDINGS,
    ]

    def __init__(self, rows: list[tuple[str, str]], notes: list[str] | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.notes = notes or []

    def text(self, width: int) -> str:
        """The help as lines of at most ``width`` cells: keys right-aligned, descriptions
        wrapped under their start."""
        keys = max((len(key) for key, _ in self.rows), default=0)
        room = max(20, width - keys - 2)
        lines = []
        for key, desc in self.rows:
            if not key:
                lines.append(f"── {desc}")
                continue
            wrapped = textwrap.wrap(desc, room) or [""]
            lines.append(f"{key:>{keys}}  {wrapped[0]}")
            lines += [" " * (keys + 2) + more for more in wrapped[1:]]
        for note in self.notes:
            indent = len(note) - len(note.lstrip())
            lines += textwrap.wrap(note, max(20, width), subsequent_indent=" " * (indent + 2))
        return "\n".join(lines)

    def _width(self) -> int:
        """The text's width in the box (90% of the screen, at most 110)."""
        return min(110, int(self.app.size.width * 0.9)) - 7  # frame, padding, scrollbar

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="modal-box"):
            yield Label("irtui keys", id="help-title", classes="modal-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(self.text(self._width()), markup=False, id="help-text")
            yield Label("Esc: close · ↑↓ PgUp/PgDn: scroll", classes="hint modal-hint")

    def on_resize(self) -> None:
        super().on_resize()
        self.query_one("#help-text", Static).update(self.text(self._width()))

    def on_mount(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class LogDetailScreen(OnceModal[None]):
    """One log line in full, wrapped, with its date, time and host."""

    FLEX = "#detail-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close", id="detail.close"),
        *SCROLL_BINDINGS,
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="modal-box"):
            yield Label("Log line", classes="modal-title")
            with VerticalScroll(id="detail-scroll"):
                yield Static(self.text, markup=False, id="detail-text")
            yield Label("Esc/Enter: close · ↑↓ PgUp/PgDn: scroll", classes="hint modal-hint")

    def on_mount(self) -> None:
        self.query_one("#detail-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
