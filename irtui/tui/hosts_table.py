"""The host pane: one row per configured host and the detail line of the one selected."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from irtui.core.firewall.state import IsolationStatus
from irtui.core.rollback import TimerState
from irtui.tui.cells import clip
from irtui.tui.host_view import HostView
from irtui.tui.log_panel import ERROR_MARK

SHORT_BACKEND = {"iptables-nft": "ipt-nft", "iptables-legacy": "ipt-legacy"}
"""Backend names as the host table's Firewall column shows them (80 columns are tight)."""


class HostTable(DataTable[str]):
    """One row per configured host: name, address, reachable, isolated, blocks, firewall
    backend, activity; sized for 80 columns. Posts :class:`Detail` with the full preflight
    line, activity and error of the host under the cursor."""

    COLUMNS = (("Host", "host"), ("Address", "address"), ("Reach", "reachable"),
               ("Isolation", "isolation"), ("Blocks", "blocks"), ("Firewall", "firewall"),
               ("Activity", "activity"))
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="hosts.down"),
        Binding("k", "cursor_up", "Up", show=False, id="hosts.up"),
    ]

    class Detail(Message):
        """The one-line detail of the host under the cursor changed."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._views: dict[str, HostView] = {}
        self._detail = ""
        for label, key in self.COLUMNS:
            self.add_column(label, key=key)

    def show(self, views: list[HostView]) -> None:
        """Add or update rows in place, keyed by host name."""
        for view in views:
            cells = self._cells(view)
            key = view.config.name
            self._views[key] = view
            if key in self.rows:
                old = self.get_row(key)
                for (_, col), value, was in zip(self.COLUMNS, cells, old, strict=True):
                    if value != was:
                        self.update_cell(key, col, value, update_width=True)
            else:
                self.add_row(*cells, key=key)
        self._post_detail()

    @staticmethod
    def _cells(view: HostView) -> tuple[str, ...]:
        c = view.config
        name, address = clip(c.name, 12), clip(c.address, 16)
        backend = view.profile.choice.name if view.profile else (
            view.state.backend if view.state and view.state.backend else "")
        firewall = SHORT_BACKEND.get(backend, backend) or ("?" if view.error else "…")
        activity = clip(view.busy or (view.error or "").removeprefix(f"{c.name}: "), 10)
        if view.state is None and view.error is None:
            return (name, address, "…", "…", "…", firewall, activity)
        if view.error is not None:
            return (name, address, "✗ no", "unknown", "?", firewall, activity)
        state = view.state
        assert state is not None
        count = str(len(view.known_blocks() or ()))
        return (name, address, "✓ yes", HostTable.isolation_cell(view),
                f"{count} ⚠" if state.gaps else count, firewall, activity)

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
        if view.rollback.state in (TimerState.ARMED, TimerState.FIRED):
            parts.append(f"rollback timer {view.rollback}")
        if view.busy:
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


class HostPane(Vertical):
    """The host table and, under it, the preflight line of the host under the cursor."""

    def compose(self) -> ComposeResult:
        yield HostTable(id="host-table")
        yield Static("", id="host-detail", markup=False)

    @on(HostTable.Detail)
    def _detail(self, message: HostTable.Detail) -> None:
        self.query_one("#host-detail", Static).update(message.text)
