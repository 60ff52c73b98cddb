"""The panes: host list, blocklist, live log, notification compose."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Log, TextArea

from irtui.core.config import HostConfig
from irtui.core.durations import format_duration
from irtui.core.firewall.state import HostState

STDERR_MARK = " ! "
STDOUT_MARK = " | "
ERROR_MARK = "✗ "


@dataclass
class HostView:
    """What the TUI knows of a host: the last state read, or the last error."""

    config: HostConfig
    state: HostState | None = None
    error: str | None = None
    busy: str = ""


class HostTable(DataTable[str]):
    """One row per configured host: name, address, reachable, isolated, blocks, activity."""

    COLUMNS = ("Host", "Address", "Reachable", "Isolation", "Blocks", "Activity")

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for col in self.COLUMNS:
            self.add_column(col, key=col.lower())

    def show(self, views: list[HostView]) -> None:
        """Add or update rows in place, keyed by host name."""
        for view in views:
            cells = self._cells(view)
            key = view.config.name
            if key in self.rows:
                for col, value in zip(self.COLUMNS, cells, strict=True):
                    self.update_cell(key, col.lower(), value)
            else:
                self.add_row(*cells, key=key)

    @staticmethod
    def _cells(view: HostView) -> tuple[str, ...]:
        c = view.config
        if view.state is None and view.error is None:
            return (c.name, c.address, "…", "…", "…", view.busy)
        if view.error is not None:
            return (c.name, c.address, "✗ no", "unknown", "?", view.busy or view.error[:40])
        state = view.state
        assert state is not None
        iso = "■ ISOLATED" if state.isolated else "normal"
        return (c.name, c.address, "✓ yes", iso, str(len(state.blocks)), view.busy)

    def selected_host(self) -> str | None:
        """The host name under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)


class BlockTable(DataTable[str]):
    """Blocklist entries across hosts, one row per (entry, host), with a live countdown."""

    COLUMNS = ("Entry", "Fam", "Host", "Expires in")

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for col in self.COLUMNS:
            self.add_column(col, key=col.lower())
        self.deadlines: dict[str, float | None] = {}
        self.filter_text = ""

    def show(self, views: list[HostView]) -> None:
        """Update rows in place by key ``host|entry``: remove gone rows, add new ones."""
        now = time.time()
        wanted: dict[str, tuple[str, str, str, float | None]] = {}
        for view in views:
            if view.state is None:
                # unreachable: keep its previous rows (the cache) rather than show nothing
                for key in [k for k in self.deadlines if k.startswith(view.config.name + "|")]:
                    row = self.get_row(key)
                    wanted[key] = (row[0], row[1], row[2], self.deadlines[key])
                continue
            for entry in view.state.blocks:
                deadline = None if entry.expires is None else view.state.read_at + entry.expires
                wanted[f"{view.config.name}|{entry.text}"] = (
                    entry.text, f"v{entry.family}", view.config.name, deadline)
        if self.filter_text:
            wanted = {k: v for k, v in wanted.items()
                      if self.filter_text in f"{v[0]} {v[2]}".lower()}
        for key in [k for k in self.deadlines if k not in wanted]:
            self.remove_row(key)
            del self.deadlines[key]
        for key, (text, fam, host, deadline) in wanted.items():
            remaining = format_duration(None if deadline is None else deadline - now)
            if key in self.deadlines:
                self.update_cell(key, "expires in", remaining)
            else:
                self.add_row(text, fam, host, remaining, key=key)
            self.deadlines[key] = deadline

    def tick(self) -> None:
        """Refresh the countdown cells (once a second)."""
        now = time.time()
        for key, deadline in self.deadlines.items():
            if deadline is not None:
                self.update_cell(key, "expires in", format_duration(deadline - now))

    def selected(self) -> tuple[str, str] | None:
        """``(host, entry)`` under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        host, entry = str(row_key.value).split("|", 1)
        return host, entry


class _StreamHighlighter(Highlighter):
    """Colours stderr and error lines of the log so they stand out from stdout."""

    def __init__(self, error_style: str, dim_style: str) -> None:
        self.error_style = error_style
        self.dim_style = dim_style

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if STDERR_MARK in plain[:40] or plain.startswith(ERROR_MARK):
            text.stylize(self.error_style)
        elif plain.startswith("$ ") or plain.startswith("── "):
            text.stylize(self.dim_style)


class LogPanel(Log):
    """The live log: remote stdout/stderr lines prefixed by host, bounded to ``max_lines``."""

    def on_mount(self) -> None:
        theme = self.app.current_theme
        self.highlight = True
        self.highlighter = _StreamHighlighter(f"bold {theme.error or 'red'}",
                                              f"{theme.accent or 'yellow'}")


class NotifyPane(Vertical):
    """Compose an email to the team; the body is prefilled with the session's summary."""

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

    def compose(self) -> ComposeResult:
        yield Label("To (comma-separated):")
        yield Input(", ".join(self.default_to), id="notify-to")
        yield Label("Subject:")
        yield Input("[irtui] containment update", id="notify-subject")
        yield TextArea(id="notify-body", soft_wrap=True)
        yield Label("ctrl+s: send   ctrl+l: refill body with the session summary",
                    classes="hint")

    def fill_body(self, text: str) -> None:
        """Replace the body with ``text``."""
        self.query_one("#notify-body", TextArea).text = text

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
