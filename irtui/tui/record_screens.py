"""Dialogs of the incident record: choose or open an incident, and the incident's timeline
(filterable by host and action; Enter shows one action's steps and results)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label

from irtui.tui.cells import clip
from irtui.tui.fitted_table import FittedDataTable
from irtui.tui.modal import OnceModal
from irtui.tui.screens import LogDetailScreen

if TYPE_CHECKING:
    from irtui.core.record.incidents import Incident
    from irtui.core.record.timeline import Action


def _severities() -> tuple[str, ...]:
    """The record's severities (imported when a dialog opens, not at start-up)."""
    from irtui.core.record.incidents import SEVERITIES

    return SEVERITIES


@dataclass(frozen=True)
class IncidentChoice:
    """The responder chose ``incident_id``, or (id empty) opens ``title`` at
    ``severity``."""

    incident_id: str = ""
    title: str = ""
    severity: str = "medium"


class IncidentScreen(OnceModal[IncidentChoice | None]):
    """Every incident in the record; Enter records in the one under the cursor from now on;
    the fields below open a new one (Enter in the title)."""

    FLEX = "#incident-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="incident.cancel"),
        Binding("n", "new", "New", id="incident.new", show=False),
    ]

    def __init__(self, incidents: Sequence[Incident], current: str | None) -> None:
        super().__init__()
        self.incidents = list(incidents)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="incident-box", classes="modal-box"):
            yield Label("Incidents — Enter: record in it · n: open a new one · Esc: cancel",
                        classes="modal-title")
            yield FittedDataTable(id="incident-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="modal-row"):
                yield Label("New:", classes="modal-label")
                yield Input(placeholder="title of a new incident, then Enter",
                            id="incident-title", compact=True)
            with Horizontal(classes="modal-row", id="incident-severity-row"):
                yield Label("Severity:", classes="modal-label")
                yield Input("medium", placeholder=", ".join(_severities()),
                            id="incident-severity", compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(" ", "Incident", "Status", "Severity", "Title")
        for incident in reversed(self.incidents):  # newest first
            mark = "▶" if incident.id == self.current else ""
            table.add_row(mark, incident.id, incident.status.value, incident.severity,
                          clip(incident.title, 40), key=incident.id)
        if self.incidents:
            table.focus()
        else:
            self.query_one("#incident-title").focus()

    @on(DataTable.RowSelected, "#incident-table")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        chosen = next(i for i in self.incidents if i.id == event.row_key.value)
        if chosen.closed:
            self.notify(f"{chosen.id} is closed: reopen it with irtui incident status "
                        f"{chosen.id} --set analysing, or open a new one (n)",
                        severity="warning", markup=False)
            return
        self.dismiss(IncidentChoice(chosen.id))

    @on(Input.Submitted)
    def _new(self, event: Input.Submitted) -> None:
        event.stop()
        title = self.query_one("#incident-title", Input).value.strip()
        severity = self.query_one("#incident-severity", Input).value.strip().lower()
        if not title:
            self.notify("give the new incident a title", severity="warning")
            self.query_one("#incident-title").focus()
            return
        if severity not in _severities():
            self.notify(f"severity is one of {', '.join(_severities())}", severity="warning")
            self.query_one("#incident-severity").focus()
            return
        self.dismiss(IncidentChoice("", title, severity))

    def action_new(self) -> None:
        """``n``: to the new incident's title."""
        self.query_one("#incident-title").focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


def _action_detail(action: Action) -> str:
    lines = [f"{action.ts}  {action.summary}", f"by {action.analyst} · outcome "
             f"{action.outcome}" + (f" · reason: {action.reason}" if action.reason else "")]
    for host, result in action.results.items():
        lines.append(f"{host}: {result.outcome} — {result.message} ({result.duration_s:.2f} s)")
    for step in action.steps:
        lines.append(f"$ {step.get('host')}: {step.get('command')}  → exit "
                     f"{step.get('exit_code')} in {step.get('duration_s')} s")
    return "\n".join(lines)


class TimelineScreen(OnceModal[None]):
    """The current incident's actions, oldest first: time (UTC), action, outcome, hosts,
    summary, reason. ``h`` shows one host's actions (again: the next host, then all), ``a``
    one kind of action; Enter one action's steps and results.

    Args:
        load: returns the actions (run in a thread: it reads the record).
    """

    FLEX = "#timeline-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,t", "close", "Close", id="timeline.close"),
        Binding("h", "cycle('host')", "Host", id="timeline.host"),
        Binding("a", "cycle('action')", "Action", id="timeline.action"),
    ]

    def __init__(self, load: Callable[[], list[Action]]) -> None:
        super().__init__()
        self.load = load
        self.actions: list[Action] = []
        self.host = ""
        self.kind = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="timeline-box", classes="modal-box"):
            yield Label("Timeline", id="timeline-title", classes="modal-title")
            yield FittedDataTable(id="timeline-table", cursor_type="row")
            yield Label("h: by host · a: by action · Enter: details · Esc: close",
                        classes="hint modal-hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Time", "Action", "Outcome", "Hosts",
                                              "Summary", "Reason")
        self.query_one(DataTable).focus()
        self.run_worker(self.load, thread=True, exit_on_error=False, group="timeline",
                        description="read the timeline")

    def on_worker_state_changed(self, event: object) -> None:
        worker = getattr(event, "worker", None)
        if worker is not None and worker.group == "timeline" and worker.is_finished:
            self.actions = list(worker.result or [])
            self._fill()

    def shown(self) -> list[Action]:
        """The actions that pass the host and action filters."""
        return [a for a in self.actions
                if (not self.host or self.host in a.hosts or self.host in a.results)
                and (not self.kind or a.action == self.kind)]

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for action in self.shown():
            table.add_row(action.ts[11:19], action.action, action.outcome,
                          clip(",".join(action.hosts), 20), clip(action.summary, 50),
                          clip(action.reason, 30), key=str(action.id))
        what = [f"host {self.host}" if self.host else "", f"{self.kind}" if self.kind else ""]
        self.query_one("#timeline-title", Label).update(
            f"Timeline — {len(self.shown())} of {len(self.actions)} actions"
            + "".join(f" · {w}" for w in what if w))

    def action_cycle(self, what: str) -> None:
        """Next host (``host``) or next kind of action (``action``); after the last: all."""
        if what == "host":
            values = sorted({h for a in self.actions for h in [*a.hosts, *a.results]})
            self.host = _next(values, self.host)
        else:
            self.kind = _next(sorted({a.action for a in self.actions}), self.kind)
        self._fill()

    @on(DataTable.RowSelected, "#timeline-table")
    def _detail(self, event: DataTable.RowSelected) -> None:
        event.stop()
        action = next(a for a in self.actions if str(a.id) == event.row_key.value)
        self.app.push_screen(LogDetailScreen(_action_detail(action)))

    def action_close(self) -> None:
        self.dismiss(None)


def _next(values: list[str], current: str) -> str:
    """The value after ``current`` in ``values``; ``""`` (all) after the last."""
    cycle = ["", *values]
    return cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else ""
