"""Runs that stopped on an error (``error`` records): whether anything had changed.

An ``error`` record is written when an :class:`~irtui.core.errors.IrtuiError` stops a verb
(:meth:`IncidentRecorder.error`). Most stop before the action had a plan: bad input refused,
a host unreachable while planning. Nothing was changed by those, so they are not failed
actions; a report counts them apart and says "nothing changed". An error raised while a plan
was running belongs to that action (whose own outcome the report counts).

Records written before the ``stop`` field existed are classified from the chain: an error
with one of its session's plans still open (no result yet) happened during that plan;
otherwise, as :meth:`IncidentRecorder.error` only ever recorded errors with no plan running,
nothing had changed, but whether it was a refusal is not recorded (``NOT_RUN``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from irtui.core.errors import ActionError, AuditError, ConfigError, HostKeyError, InvalidTargetError
from irtui.core.record.store import Record


class StopKind(enum.Enum):
    """How a stopped run left the hosts."""

    REFUSED = "refused"
    """irtui refused the input before any change (malformed or guarded IOC, unknown host,
    wrong host key, bad config): nothing changed."""
    NOT_RUN = "not run"
    """Stopped by an error before any change (host unreachable while planning, missing
    secret): nothing changed."""
    FAILED = "failed"
    """Stopped during or after a change: something may have changed."""

    @property
    def nothing_changed(self) -> bool:
        """True when the run stopped before any change."""
        return self is not StopKind.FAILED

    @property
    def label(self) -> str:
        """The outcome as a report shows it: ``refused (nothing changed)``…"""
        return f"{self.value} (nothing changed)" if self.nothing_changed else self.value


def classify(error: BaseException | None, running: bool) -> StopKind:
    """The :class:`StopKind` of ``error``.

    Args:
        error: the exception that stopped the run (None: not known).
        running: a plan of this session had been recorded without its result yet.
    """
    if running or isinstance(error, ActionError):
        return StopKind.FAILED
    if isinstance(error, AuditError) and error.changed:
        return StopKind.FAILED
    if isinstance(error, (InvalidTargetError, HostKeyError, ConfigError)):
        return StopKind.REFUSED
    return StopKind.NOT_RUN


@dataclass(frozen=True)
class Stop:
    """One run stopped by an error.

    Attributes:
        seq, ts: its record.
        action: the verb (``block``…); ``message``: the error's line.
        kind: see :class:`StopKind`.
        action_id: the action it happened in (a running plan, a failed notification), or
            None when it belongs to no recorded action.
        dry_run: the run was a ``--dry-run`` (when the caller said so).
    """

    seq: int
    ts: str
    action: str
    message: str
    kind: StopKind
    action_id: int | None = None
    dry_run: bool = False


def stops_of(records: Sequence[Record]) -> list[Stop]:
    """The :class:`Stop` of every ``error`` record in ``records`` (chain order)."""
    open_plans: dict[str, list[int]] = {}
    stops: list[Stop] = []
    for record in records:
        session = str(record.get("session", ""))
        if record.kind == "plan":
            open_plans.setdefault(session, []).append(record.seq)
        elif record.kind == "result":
            owner = record.get("action_id")
            for seqs in open_plans.values():
                if owner in seqs:
                    seqs.remove(owner)
        elif record.kind == "error":
            stops.append(_stop(record, open_plans.get(session, [])))
    return stops


def _stop(record: Record, open_plans: list[int]) -> Stop:
    action, message = str(record.get("action", "")), str(record.get("message", ""))
    recorded = record.get("stop")
    if recorded is not None:
        try:
            kind = StopKind(recorded)
        except ValueError:
            kind = StopKind.FAILED  # a value this version does not know: assume the worst
        owner = record.get("action_id")
        return Stop(record.seq, record.ts, action, message, kind,
                    owner if isinstance(owner, int) else None, bool(record.get("dry_run")))
    if open_plans:
        return Stop(record.seq, record.ts, action, message, StopKind.FAILED, open_plans[-1])
    return Stop(record.seq, record.ts, action, message, StopKind.NOT_RUN)
