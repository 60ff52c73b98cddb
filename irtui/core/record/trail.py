"""What the actions write through: an :class:`~irtui.core.audit.AuditLog` (a plain session
trail) or an :class:`~irtui.core.record.recorder.IncidentRecorder` (the incident record), with
one way to track a plan's execution on either."""

from __future__ import annotations

from typing import Any

from irtui.core.audit import AuditLog
from irtui.core.events import (
    Event,
    OutputLine,
    PlanResult,
    RollbackEvent,
    StepFinished,
    StepStarted,
)
from irtui.core.gcpause import gc_paused
from irtui.core.plan import Plan
from irtui.core.record.recorder import ActionTrack, IncidentRecorder, rollback_fields

AuditTrail = AuditLog | IncidentRecorder


class LogTrack:
    """The tracker interface over a plain :class:`AuditLog`: the plan now, output lines to
    the transcript, the result at the end."""

    def __init__(self, audit: AuditLog, plan: Plan) -> None:
        self.audit = audit
        audit.plan(plan)

    def event(self, event: Event) -> None:
        """Output lines into the transcript; steps (``step`` records) and rollback timer
        changes (``rollback`` records) into the trail as they happen."""
        if isinstance(event, OutputLine):
            self.audit.output(event)
        elif isinstance(event, StepStarted):
            self.audit.write("step", host=event.host, purpose=event.purpose, phase="started")
        elif isinstance(event, StepFinished):
            self.audit.write("step", host=event.host, purpose=event.purpose, phase="finished",
                             exit_code=event.exit_code, duration_s=round(event.duration, 3))
        elif isinstance(event, RollbackEvent):
            self.audit.write("rollback", **rollback_fields(event))

    def finish(self, result: PlanResult) -> None:
        """Record the result."""
        self.audit.result(result)


def track_action(audit: AuditTrail, plan: Plan) -> ActionTrack | LogTrack:
    """Record ``plan`` before it runs and return the tracker for its events.

    Raises:
        AuditError: the trail cannot be written (nothing may run).
    """
    with gc_paused():  # a feed's plan record holds 100,000 entries: see irtui.core.gcpause
        if isinstance(audit, IncidentRecorder):
            return audit.track(plan)
        return LogTrack(audit, plan)


def with_parameters(audit: AuditTrail, plan: Plan, **params: Any) -> Plan:
    """Note what ``plan`` was built from (the incident record keeps it); returns ``plan``."""
    return audit.parameters(plan, **params) if isinstance(audit, IncidentRecorder) else plan
