"""The block/unblock prompt: addresses (pasted IOC lists welcome), TTL and hosts.

An input error never closes it: the message shows under the fields, the bad tokens are
marked in place (and the first one selected, so typing replaces it), and ``ctrl+t`` drops
every token marked as not an address. A paste of several lines lands whole in the address
field (Textual's ``Input`` keeps only the first line of a paste).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label
from textual.widgets.input import Selection

from irtui.core.ioc_paste import split_pasted
from irtui.tui.modal import OnceModal

_TOKEN = re.compile(r"[^\s,;|]+")
"""A token as :func:`irtui.core.ioc_paste.split_pasted` splits (for positions)."""
FIELDS = ("targets", "ttl", "hosts")


@dataclass(frozen=True)
class TargetRequest:
    """What the responder typed in :class:`TargetPrompt`: raw text, validated by the core."""

    targets: str
    ttl: str
    hosts: str


@dataclass(frozen=True)
class Problem:
    """Why a request cannot be planned: the field (one of :data:`FIELDS`), one line naming
    the problem and the fix, and the tokens to mark."""

    field: str
    message: str
    bad: tuple[str, ...] = ()


Check = Callable[[TargetRequest], "Problem | None"]
"""Validates a request before the prompt closes (the app's, from the core's parsers)."""


class BadTokens(Highlighter):
    """Marks the tokens in :attr:`bad` (whole tokens only)."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.bad: set[str] = set()

    def highlight(self, text: Text) -> None:
        if not self.bad:
            return
        for match in _TOKEN.finditer(text.plain):
            if match.group() in self.bad:
                text.stylize(self.style, match.start(), match.end())


class OrderedInput(Input):
    """An ``Input`` that handles keys arriving together in the order they were typed."""

    async def _on_key(self, event: events.Key) -> None:
        # Keys that arrive together (typed over a laggy SSH link) are all queued for the field
        # focused when they arrived, and Textual runs a key's binding (Tab, ctrl+u, Enter)
        # only once the key has bubbled up to the app, after the characters queued behind it
        # were typed. So a binding runs here, in order, and a key this field got after the
        # focus moved on is passed, in order, to the field focused now.
        focused = self.screen.focused
        if focused is not self and isinstance(focused, Input):
            event.stop()
            event.prevent_default()
            key = events.Key(event.key, event.character)
            key._set_forwarded()  # as the app forwards keys: it does not forward it again
            focused.post_message(key)
        elif not event.is_printable and await self.app._check_bindings(event.key):
            event.stop()
            event.prevent_default()


class TokenInput(OrderedInput):
    """An ``Input`` whose bad tokens can be marked, and which takes a multi-line paste whole
    (lines joined with spaces)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.marks = BadTokens("bold underline red")
        self.highlighter = self.marks

    def on_mount(self) -> None:
        self.marks.style = f"bold underline {self.app.current_theme.error or 'red'}"

    def on_paste(self, event: events.Paste) -> None:
        event.prevent_default()  # Input's own paste keeps the first line only
        event.stop()
        text = " ".join(line.strip() for line in event.text.splitlines() if line.strip())
        if text and self.selection.is_empty:
            self.insert_text_at_cursor(text)
        elif text:
            self.replace(text, *self.selection)

    def mark(self, bad: Sequence[str]) -> None:
        """Mark ``bad`` tokens and select the first one."""
        self.marks.bad = set(bad)
        for match in _TOKEN.finditer(self.value):
            if match.group() in self.marks.bad:
                self.selection = Selection(match.start(), match.end())
                break
        self.refresh()

    def drop_marked(self) -> int:
        """Remove every marked token; returns how many were removed."""
        tokens = split_pasted(self.value)
        kept = [t for t in tokens if t not in self.marks.bad]
        self.value = " ".join(kept)
        self.marks.bad = set()
        return len(tokens) - len(kept)


class TargetPrompt(OnceModal[TargetRequest | None]):
    """Asks for addresses, TTL and hosts for a block or unblock. Enter checks the request
    with ``check`` and, when it passes, closes with it; Esc cancels.

    Args:
        title: the dialog's title.
        hosts: the hosts field's value (the marked or selected hosts).
        ttl: the TTL field's value, or None for no TTL field (unblock).
        targets: the address field's value (e.g. the selected blocklist entry).
        check: validation run on Enter (default: only "an address is needed").
        problem: a problem to show from the start (the prompt re-opened after the core
            refused the plan).
    """

    AUTO_FOCUS = "#prompt-targets"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
        Binding("ctrl+t", "drop_bad", "Drop marked", id="prompt.drop", show=False),
    ]

    def __init__(self, title: str, hosts: str, ttl: str | None, *, targets: str = "",
                 check: Check | None = None, problem: Problem | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.hosts = hosts
        self.ttl = ttl
        self.targets = targets
        self.check = check
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box", classes="modal-box"):
            yield Label(self.title_text, id="prompt-title", classes="modal-title", markup=False)
            with Horizontal(classes="modal-row"):
                yield Label("Address:", classes="modal-label")
                yield TokenInput(self.targets, id="prompt-targets", compact=True,
                                 placeholder="address or CIDR, e.g. 203.0.113.7 2001:db8::/32")
            if self.ttl is not None:
                with Horizontal(classes="modal-row"):
                    yield Label("TTL:", classes="modal-label")
                    yield TokenInput(self.ttl, placeholder="required: 30m, 24h, 7d or permanent",
                                     id="prompt-ttl", compact=True)
            with Horizontal(classes="modal-row"):
                yield Label("Hosts:", classes="modal-label")
                yield TokenInput(self.hosts, placeholder="name, @group or all",
                                 id="prompt-hosts", compact=True)
            yield Label("", id="prompt-error", classes="modal-error", markup=False)
            yield Label("Enter: review plan · Tab: next field · Esc: cancel",
                        classes="hint modal-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-error").display = False
        self.query_one("#prompt-targets", Input).focus()
        if self.problem is not None:
            self.show_problem(self.problem)

    def take_key(self, event: events.Key) -> bool:
        """A character typed for this dialog that went elsewhere — keys typed or pasted in
        one burst right after ``b`` are delivered to the table that had the focus before
        the dialog opened — goes into the focused field (else the address field).
        Returns True when it was taken."""
        if not (event.is_printable and event.character):
            return False
        field = self.focused if isinstance(self.focused, Input) else self._field("targets")
        field.insert_text_at_cursor(event.character)
        return True

    def on_key(self, event: events.Key) -> None:
        if self.take_key(event):  # a field stops the characters it takes: not these
            event.stop()
            event.prevent_default()

    def _field(self, name: str) -> TokenInput:
        return self.query_one(f"#prompt-{name}", TokenInput)

    def request(self) -> TargetRequest:
        """What the fields hold now."""
        ttl = self._field("ttl").value if self.ttl is not None else ""
        return TargetRequest(self._field("targets").value.strip(), ttl.strip(),
                             self._field("hosts").value.strip())

    def show_problem(self, problem: Problem) -> None:
        """Show ``problem`` under the fields, mark its tokens, focus its field."""
        error = self.query_one("#prompt-error", Label)
        error.update(f"✗ {problem.message}")
        error.display = True
        name = problem.field if problem.field in FIELDS else "targets"
        if name == "ttl" and self.ttl is None:
            name = "targets"
        for other in FIELDS:
            if other != "ttl" or self.ttl is not None:
                self._field(other).mark(problem.bad if other == name else ())
        self._field(name).focus()
        self._fit()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        if self.dismissed:
            return
        request = self.request()
        name = (event.input.id or "").removeprefix("prompt-")
        if name in FIELDS:  # as it was at Enter: keys typed after it are not part of it
            request = replace(request, **{name: event.value.strip()})
        problem = (Problem("targets", "type an address or CIDR") if not request.targets
                   else self.check(request) if self.check else None)
        if problem is not None:
            self.show_problem(problem)
            return
        self.dismiss(request)

    def action_drop_bad(self) -> None:
        """``ctrl+t``: remove the tokens marked in the address field."""
        dropped = self._field("targets").drop_marked()
        if dropped:
            self.notify(f"dropped {dropped} token{'s' * (dropped != 1)}; Enter to review",
                        markup=False)
            self.query_one("#prompt-error").display = False

    def action_cancel(self) -> None:
        self.dismiss(None)
