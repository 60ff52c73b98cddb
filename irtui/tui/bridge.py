"""The thread → UI bridge of the app: workers put events on a queue that the UI drains every
80 ms (one batched log write per tick, as k9s does), so output streams without freezing the
screen; the log lines, the host rows and the toasts are updated from there.

A mixin of :class:`irtui.tui.app.IrtuiApp` (split out by job); ``self`` is the app.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from irtui.core.events import Countdown, Event
from irtui.core.text import printable
from irtui.tui.eventlog import event_lines
from irtui.tui.hosts_table import HostTable
from irtui.tui.log_panel import ERROR, ERROR_MARK, WAIT, WAIT_MARK, LogPanel, classify
from irtui.tui.toasts import Toaster

log = logging.getLogger(__name__)
"""irtui's own error lines also go here, at DEBUG (never shown in the terminal: no handler
prints DEBUG unless one is configured), so a test that fails shows them in its captured log."""

if TYPE_CHECKING:
    from irtui.tui.host_view import HostView

DRAIN_SECONDS = 0.08
TOAST_SECONDS = 10
Entry = tuple[str, int, str]
"""A log line for :meth:`LogPanel.write_entries`: ``(host, kind, text)``."""


def render_event(event: Event) -> list[Entry]:
    """The log lines of one execution event (:func:`irtui.tui.eventlog.event_lines`),
    tagged with the event's host and typed by kind."""
    host = str(getattr(event, "host", ""))
    return [(host, classify(line, (host,))[1], line) for line in event_lines(event)]


class EventBridge:
    """The queue, its drain, and the one place log lines and error toasts are written."""

    views: dict[str, HostView]
    events: deque[tuple[str, Any]]
    toaster: Toaster

    def _init_bridge(self) -> None:
        self.events = deque()
        self.toaster = Toaster(self._toast, self.views)

    def _toast(self, text: str) -> None:
        self.notify(text, severity="error", timeout=TOAST_SECONDS,  # type: ignore[attr-defined]
                    markup=False)

    def _post(self, kind: str, payload: Any) -> None:
        """Thread-safe: queue something for the UI thread (deque.append is atomic)."""
        self.events.append((kind, payload))

    def _drain(self) -> None:
        if not self.is_running:  # type: ignore[attr-defined]
            return  # no screen left
        if not self.events:
            self.toaster.tick()
            return
        lines: list[Entry] = []
        hosts_changed = blocks_changed = False
        while self.events:
            kind, payload = self.events.popleft()
            if kind == "event" and isinstance(payload, Countdown):
                self.views[payload.host].busy = f"⏳ {payload.what} {payload.seconds}s"
                hosts_changed = True
                if payload.seconds % 5 == 0:
                    lines.append((payload.host, WAIT, f"{WAIT_MARK}{payload.host}: waiting for "
                                  f"the host's {payload.what}: {payload.seconds} s left"))
            elif kind == "event":
                lines.extend(render_event(payload))
            elif kind == "line":
                lines.append((*classify(payload, self.views), payload))
            elif kind == "state":
                name, seq, state, error, profile, blocks, timer = payload
                view = self.views[name]
                if seq < view.read_seq:  # a slower, older read: never show stale state
                    continue
                view.read_seq = seq
                if error and error != view.error:
                    lines.append((name, ERROR, f"{ERROR_MARK}{error}"))
                view.update(state, error, profile, blocks)
                if timer is not None:
                    view.rollback = timer
                hosts_changed = blocks_changed = True
            elif kind == "drift":  # of the reads still shown only
                for name, (seq, drift) in payload.items():
                    view = self.views[name]
                    if seq == view.read_seq and view.state is not None:
                        view.drift = drift
                        if drift is not None and view.busy.startswith("✓") and (
                                drift.lost or drift.isolation_lost or drift.isolation_widened):
                            view.busy = ""  # "✓ block ok" of what is lost now: no longer true
                hosts_changed = True
            elif kind == "busy":
                name, text = payload
                self.views[name].busy = text
                self.views[name].running = ""
                hosts_changed = True
            elif kind == "call":
                payload()
        if lines:
            self._write_entries(lines)
        self.toaster.tick()
        if hosts_changed:
            with self.batch_update():  # type: ignore[attr-defined]
                self.query_one(HostTable).show(list(self.views.values()))  # type: ignore[attr-defined]
        if blocks_changed:
            self._update_blocklist()  # type: ignore[attr-defined]

    def _write_entries(self, entries: list[Entry]) -> None:
        """The one place log lines are written. irtui's own error lines (failed host
        results, refused input, unreachable hosts…) also pop up as toasts (capped, one per
        distinct message, see :class:`Toaster`), which wrap, so the fix half of
        ``problem — fix`` is never cut off at 80 columns. Remote stderr is only logged.
        Control characters are escaped (``printable``): a host's output never drives the
        terminal."""
        entries = [(host, kind, printable(text)) for host, kind, text in entries]
        self.query_one(LogPanel).write_entries(entries)  # type: ignore[attr-defined]
        for _, kind, text in entries:
            if kind == ERROR:
                log.debug("%s", text)
        self.toaster.add(text.removeprefix(ERROR_MARK) for _, kind, text in entries
                         if kind == ERROR)

    def _write(self, lines: list[str]) -> None:
        """Write plain lines (their host and kind read from their marks)."""
        self._write_entries([(*classify(line, self.views), line) for line in lines])

    def _log(self, line: str) -> None:
        self._write([line])

    def _log_error(self, line: str) -> None:
        self._write([f"{ERROR_MARK}{line}"])

    def _log_error_untoasted(self, line: str) -> None:
        """Log an error a dialog already shows in place: a toast would cover that dialog at
        80x24 and outlive the problem once fixed."""
        text = printable(f"{ERROR_MARK}{line}")
        self.query_one(LogPanel).write_entries([(*classify(text, self.views), text)])  # type: ignore[attr-defined]
