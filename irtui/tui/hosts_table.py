"""The host pane: one row per configured host and the detail line of the one selected."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from irtui.core.firewall.state import IsolationStatus
from irtui.core.rollback import TimerState
from irtui.tui.cells import clip, toggle
from irtui.tui.fitted_table import FittedDataTable
from irtui.tui.host_view import HostView
from irtui.tui.log_panel import ERROR_MARK
from irtui.tui.registry import HOSTS, bindings

SHORT_BACKEND = {"iptables-nft": "ipt-nft", "iptables-legacy": "ipt-legacy"}
"""Backend names as the host table's Firewall column shows them (80 columns are tight)."""
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
"""Frames of the spinner shown in the Activity cell of a host an action runs on."""
MARK = "● "
"""Before the name of a marked host."""
MIN_ACTIVITY = 10
"""The Activity column is at least this wide; it takes what the terminal has left."""
DRIFT = " ≠"
"""After a Blocks or Isolation cell that differs from what the incident record means to be
true (drift); ``R`` re-applies."""


class HostTable(FittedDataTable):
    """One row per configured host: name, address, reachable, isolated, blocks, firewall
    backend, activity; fits 80 columns, and the Activity column takes whatever width is
    left. ``space`` marks hosts (``● host1``); a spinner turns in the Activity cell while an
    action runs there. Posts :class:`Detail` with the full preflight line, activity and
    error of the host under the cursor."""

    COLUMNS = (("Host", "host"), ("Address", "address"), ("Reach", "reachable"),
               ("Isolation", "isolation"), ("Blocks", "blocks"), ("Firewall", "firewall"),
               ("Activity", "activity"))
    BINDINGS: ClassVar[list[BindingType]] = bindings(HOSTS)

    class Marks(Message):
        """The set of marked hosts changed."""

        def __init__(self, marked: tuple[str, ...]) -> None:
            super().__init__()
            self.marked = marked

    class Detail(Message):
        """The one-line detail of the host under the cursor changed."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._views: dict[str, HostView] = {}
        self._detail = ""
        self.marked: dict[str, None] = {}
        """Marked host names, in the order they were marked."""
        self.frame = 0
        for label, key in self.COLUMNS:
            self.add_column(label, key=key)

    def show(self, views: list[HostView]) -> None:
        """Add or update rows in place, keyed by host name. The Activity column gets the
        width the other columns leave; when it must get narrower (a smaller terminal,
        wider cells elsewhere) the rows are laid out again, since a DataTable column never
        shrinks by itself."""
        for view in views:
            self._views[view.config.name] = view
        width = self._activity_width()
        activity = next((c for k, c in self.columns.items() if k.value == "activity"), None)
        if activity is not None and activity.content_width > max(width, len("Activity")):
            row = self.cursor_row
            self.clear(columns=True)
            for label, key in self.COLUMNS:
                self.add_column(label, key=key)
            self.move_cursor(row=row)
        for view in views:
            cells = self._cells(view, width, view.config.name in self.marked, self.frame)
            key = view.config.name
            if key in self.rows:
                old = self.get_row(key)
                for (_, col), value, was in zip(self.COLUMNS, cells, old, strict=True):
                    if value != was:
                        self.update_cell(key, col, value, update_width=True)
            else:
                self.add_row(*cells, key=key)
        self._post_detail()
        # DataTable sizes its columns to updated cells when its own queue goes idle; cells
        # updated from the app's drain send it no message, so wake it (else a wider cell
        # stays cut until the next key press)
        self.call_later(self.refresh)

    def _activity_width(self) -> int:
        """What the Activity column can show: the table's width minus the other columns
        as the known hosts' cells make them (and one spare cell), at least
        :data:`MIN_ACTIVITY`."""
        if not self.size.width:
            return MIN_ACTIVITY
        rows = [self._cells(v, 1, v.config.name in self.marked) for v in self._views.values()]
        others = sum(max([cell_len(label), *(cell_len(r[i]) for r in rows)])
                     for i, (label, _) in enumerate(self.COLUMNS[:-1]))
        padding = 2 * self.cell_padding * len(self.COLUMNS)
        return max(MIN_ACTIVITY, self.size.width - others - padding - 1)

    def on_resize(self) -> None:
        if self._views:
            self.show(list(self._views.values()))

    @staticmethod
    def _cells(view: HostView, width: int = MIN_ACTIVITY, marked: bool = False,
               frame: int = 0) -> tuple[str, ...]:
        c = view.config
        name, address = clip(c.name, 12), clip(c.address, 16)
        if marked:
            name = MARK + name
        backend = view.profile.choice.name if view.profile else (
            view.state.backend if view.state and view.state.backend else "")
        firewall = SHORT_BACKEND.get(backend, backend) or ("?" if view.error else "…")
        busy = view.busy
        if view.running:  # a wait (⏳ rollback 42s) says more than the action's name
            shown = busy if busy.startswith("⏳") else f"{view.running}…"
            busy = f"{SPINNER[frame % len(SPINNER)]} {shown}"
        activity = clip(busy or (view.error or "").removeprefix(f"{c.name}: "), width)
        if view.state is None and view.error is None:
            return (name, address, "…", "…", "…", firewall, activity)
        if view.error is not None:
            return (name, address, "✗ no", "unknown", "?", firewall, activity)
        state = view.state
        assert state is not None
        if view.profile is not None and view.profile.choice.conflict:
            # the backend read is not where all of irtui's state is: the detail line (the
            # preflight) says where it is and what to fix
            return (name, address, "✓ yes", "unknown", "? CONFLICT", firewall, activity)
        count = str(len(view.known_blocks() or ()))
        blocks = f"{count} ⚠" if state.gaps else count
        isolation = HostTable.isolation_cell(view)
        drift = view.drift
        if drift is not None and (drift.lost or drift.unrecorded or drift.expiry):
            blocks += DRIFT
        if drift is not None and (drift.isolation_lost or drift.isolation_unrecorded
                                  or drift.isolation_widened):
            isolation += DRIFT
        return (name, address, "✓ yes", isolation, blocks, firewall, activity)

    @staticmethod
    def isolation_cell(view: HostView) -> str:
        """``normal``, ``■ ISO 22:30`` (since, UTC), ``⏳ rollback 42s`` or ``unknown``,
        always from the host's ruleset and timer as last read back."""
        timer = view.rollback
        if timer.state is TimerState.ARMED:
            left = timer.seconds_left
            return f"⏳ rollback {left}s" if left is not None else "⏳ rollback"
        state = view.state
        if state is None:
            return "unknown"
        if state.isolation_status is IsolationStatus.PARTIAL:
            return "◐ PARTIAL"
        if not state.isolated:
            return "normal"
        since = state.isolation.since if state.isolation else ""
        return f"■ ISO {since[11:16]}" if len(since) >= 16 else "■ ISOLATED"

    @staticmethod
    def detail_line(view: HostView) -> str:
        """``name: preflight · activity · error`` of a host (each part when known)."""
        parts = []
        if view.profile:
            parts.append(view.profile.preflight)
        elif view.state is not None and view.state.backend:
            parts.append(view.state.backend)
        elif not view.error:
            parts.append("probing the firewall…")
        if view.state is not None and view.state.isolation is not None:
            iso = view.state.isolation
            if iso.problem:
                parts.append(f"{ERROR_MARK}PARTIAL isolation: {iso.problem}")
            else:
                parts.append(f"isolated since {iso.since}" if iso.since else "isolated")
        if view.state is not None and view.state.gaps:
            parts.append(f"{ERROR_MARK}blocks NOT ENFORCED: {'; '.join(view.state.gaps[:2])}")
        drift = view.drift
        if drift is not None and drift.drifted:
            fix = "R re-applies" if drift.lost or drift.isolation_lost else (
                "release, then isolate again" if drift.isolation_widened
                else "not in the record")
            parts.append(f"{ERROR_MARK}drift: {drift.summary()} ({fix})")
        if view.rollback.state in (TimerState.ARMED, TimerState.FIRED):
            parts.append(f"rollback timer {view.rollback}")
        if view.running:
            parts.append(f"{view.running} running")
        elif view.busy:
            parts.append(view.busy)
        if view.error:
            parts.append(f"{ERROR_MARK}{view.error}")
        return f"{view.config.name}: " + " · ".join(parts)

    def _post_detail(self) -> None:
        name = self.selected_host()
        view = self._views.get(name or "")
        text = self.detail_line(view) if view else ""
        if text != self._detail:
            self._detail = text
            self.post_message(self.Detail(text))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._post_detail()

    def selected_host(self) -> str | None:
        """The host name under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def targets(self) -> list[str]:
        """What an action applies to: the marked hosts (in table order), else the one under
        the cursor."""
        if self.marked:
            return [name for name in self._views if name in self.marked]
        host = self.selected_host()
        return [host] if host else []

    def action_toggle_mark(self) -> None:
        """``space``: mark or unmark the host under the cursor, then move down."""
        host = self.selected_host()
        if host is None:
            return
        toggle(self.marked, host)
        self._changed_marks()
        self.action_cursor_down()

    def action_clear_marks(self) -> None:
        """``esc``: unmark every host."""
        if self.marked:
            self.marked.clear()
            self._changed_marks()

    def _changed_marks(self) -> None:
        self.show(list(self._views.values()))
        self.post_message(self.Marks(tuple(self.marked)))

    def spin(self) -> None:
        """Advance the spinner of every host an action runs on (called ~10 times/s)."""
        running = [v for v in self._views.values() if v.running]
        if not running:
            return
        self.frame += 1
        width = self._activity_width()
        for view in running:
            key = view.config.name
            if key in self.rows:
                cells = self._cells(view, width, key in self.marked, self.frame)
                self.update_cell(key, "activity", cells[-1], update_width=True)


class HostPane(Vertical):
    """The host table and, under it, the preflight line of the host under the cursor."""

    def compose(self) -> ComposeResult:
        yield HostTable(id="host-table")
        yield Static("", id="host-detail", markup=False)

    @on(HostTable.Detail)
    def _detail(self, message: HostTable.Detail) -> None:
        self.query_one("#host-detail", Static).update(message.text)
