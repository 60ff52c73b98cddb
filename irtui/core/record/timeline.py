"""The timeline of an incident: its records grouped into actions, each with its outcome.

A plan record opens an action; its steps, host results and result record (linked by
``action_id``, the plan record's ``seq``) complete it. A plan with no result is
``interrupted``: the process stopped before it could write one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irtui.core.record.store import Record

if TYPE_CHECKING:
    from irtui.core.record.incidents import Incident

INTERRUPTED = "interrupted"


@dataclass
class HostOutcome:
    """How an action ended on one host: ``outcome`` is an
    :class:`~irtui.core.events.Outcome` value; ``ts`` when its result was recorded."""

    host: str
    outcome: str
    ok: bool
    message: str
    duration_s: float
    ts: str


@dataclass
class Action:
    """One action of an incident.

    Attributes:
        id: the ``seq`` of its first record (the plan record for plans).
        kind: ``plan`` (a remote plan) or ``action`` (a notification and the like).
        action: ``block``, ``isolate``, ``notify``…
        summary: one line.
        ts: when it started; ``end``: when its result was recorded (None if interrupted).
        analyst, reason: who and why.
        outcome: ``ok``, ``failed`` or ``interrupted``.
        hosts: target hosts; ``results``: host → :class:`HostOutcome`.
        steps: its finished step records' bodies, in order (each step also has a
            ``phase: started`` record, written before it runs, not listed here).
        record: the plan (or action) record's body.
    """

    id: int
    kind: str
    action: str
    summary: str
    ts: str
    analyst: str
    reason: str
    outcome: str
    end: str | None = None
    hosts: list[str] = field(default_factory=list)
    results: dict[str, HostOutcome] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the action succeeded on every host."""
        return self.outcome == "ok"


def actions_of(records: Sequence[Record]) -> list[Action]:
    """Group an incident's records (chain order) into :class:`Action` objects."""
    actions: dict[int, Action] = {}
    for record in records:
        body = dict(record.body)
        if record.kind == "plan":
            actions[record.seq] = Action(
                record.seq, "plan", str(body.get("action", "")), str(body.get("summary", "")),
                record.ts, str(body.get("analyst", "")), str(body.get("reason", "")),
                INTERRUPTED, hosts=list(body.get("hosts", [])), record=body)
        elif record.kind == "action":
            actions[record.seq] = Action(
                record.seq, "action", str(body.get("action", "")), str(body.get("summary", "")),
                record.ts, str(body.get("analyst", "")), str(body.get("reason", "")),
                "ok" if body.get("ok") else "failed", end=record.ts, record=body)
        owner = actions.get(body.get("action_id", -1))
        if owner is None:
            continue
        if record.kind == "step" and body.get("phase") != "started":
            owner.steps.append(body)  # a started-only record marks how far a killed run got
        elif record.kind == "host_result":
            host = str(body.get("host", ""))
            owner.results[host] = HostOutcome(host, str(body.get("outcome", "")),
                                              bool(body.get("ok")), str(body.get("message", "")),
                                              float(body.get("duration_s") or 0), record.ts)
        elif record.kind == "result":
            owner.end = record.ts
            owner.outcome = "ok" if body.get("ok") else "failed"
            if any(r.get("outcome") == INTERRUPTED for r in body.get("results", [])):
                owner.outcome = INTERRUPTED
    return list(actions.values())


def summary_text(incident: Incident, actions: Sequence[Action], location: str) -> str:
    """The incident and its actions as plain text, one line per action, for a notification
    body. Failures are listed as prominently as successes, each with its hosts' reasons."""
    good = sum(a.ok for a in actions)
    stopped = sum(a.outcome == INTERRUPTED for a in actions)
    lines = [f"Incident {incident.id} — {incident.title} ({incident.status.value}, "
             f"severity {incident.severity})",
             f"Opened {incident.opened_at} by {incident.opened_by}; analysts: "
             f"{', '.join(incident.analysts)}"]
    if not actions:
        lines.append("No containment actions recorded in this incident yet.")
    else:
        lines.append(f"{len(actions)} action(s): {good} succeeded, "
                     f"{len(actions) - good - stopped} failed, {stopped} interrupted")
    lines.append("")
    for action in actions:
        mark = {"ok": "OK  ", INTERRUPTED: "INT "}.get(action.outcome, "FAIL")
        lines.append(f"{action.ts}  {mark}  {action.summary}")
        if not action.ok:
            for host, result in action.results.items():
                if not result.ok:
                    lines.append(f"    {host}: {result.message}")
            if action.kind == "action" and action.record.get("detail"):
                lines.append(f"    {action.record['detail']}")
    lines += ["", f"Record: {location} (check it with: irtui audit verify {incident.id})"]
    return "\n".join(lines)
