"""Isolation periods of an incident, from its isolate and release actions and the records of
their steps and rollback timer (``rollback`` records, see
:class:`~irtui.core.events.RollbackEvent`).

Every isolation the record shows was applied is a period, whatever the run's outcome:

- confirmed (a ``confirmed`` rollback record, or a successful host result): from the apply
  until a release, else still isolated; a run interrupted after its confirmation is one;
- applied (every isolation command's step finished with exit 0) but not confirmed: the host's
  own timer removed it; when irtui saw it rolled back, the period ends by that time, otherwise
  the time is unknown (at most the confirm timeout after the apply);
- an apply under way when irtui stopped (its step started, its end not recorded): whether it
  was applied is unknown, and the row says so.

The start is the time stamped on the host ("isolated since", recorded with the
confirmation) when there is one, else when the last isolation command finished, else when
the host's result was recorded; each period says which. No time is made up: an end the
record does not hold is a sentence, not a time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from irtui.core.errors import InvalidTargetError
from irtui.core.record.store import Record
from irtui.core.record.timeline import Action
from irtui.core.record.times import parse_time, seconds_between

SINCE_ON_HOST = "isolated since (stamped on the host)"
APPLY_FINISHED = "isolation command finished"
APPLY_STARTED = "isolation command started (its end was not recorded)"
RESULT_RECORDED = "host result recorded (the apply time is not in the record)"

_ARM = "arm a rollback"
_CONFIRM = "confirm over a new SSH connection"
_SINCE = re.compile(r"isolated since (\S+)")


@dataclass(frozen=True)
class IsolationPeriod:
    """A host isolated from ``start`` until ``end``.

    Attributes:
        host: the host.
        start: UTC time it began (see ``start_source``).
        end: UTC time it ended (a release's result), or None when the record does not hold
            it: ``ending`` then says what the record says instead.
        start_source: what ``start`` is (:data:`SINCE_ON_HOST`, :data:`APPLY_FINISHED`…).
        ending: the end when ``end`` is None (still isolated, or removed by the host's
            rollback timer at a time not recorded).
        note: anything else a reader must know (not confirmed, the run interrupted…).
        at_most_s: an upper bound of its length in seconds when ``end`` is unknown but
            bounded (the rollback timer), else None.
        action_id: the isolate action it came from.
        confirmed: the isolation was confirmed (the rollback timer disarmed).
        in_force: still isolated as far as the record says (a later release ends it).
    """

    host: str
    start: str
    end: str | None
    start_source: str = RESULT_RECORDED
    ending: str = "still isolated"
    note: str = ""
    at_most_s: float | None = None
    action_id: int | None = None
    confirmed: bool = True
    in_force: bool = True

    @property
    def seconds(self) -> float | None:
        """Length of the period (None when its end is not recorded)."""
        return seconds_between(self.start, self.end) if self.end else None

    @property
    def until(self) -> str:
        """The end as a report shows it: a time, or what the record says instead."""
        return self.end or self.ending


@dataclass
class _HostRun:
    """What the records of one isolate action say about one host."""

    started: list[tuple[str, str]] = field(default_factory=list)   # (purpose, ts)
    finished: list[tuple[str, int, str]] = field(default_factory=list)  # (purpose, exit, ts)
    rollbacks: list[tuple[str, str, dict]] = field(default_factory=list)  # (phase, ts, body)


def _runs(records: Sequence[Record]) -> dict[tuple[int, str], _HostRun]:
    """(action id, host) → its step and rollback records, for isolate actions."""
    runs: dict[tuple[int, str], _HostRun] = {}
    for r in records:
        if r.kind not in ("step", "rollback") or r.get("action") != "isolate":
            continue
        owner = r.get("action_id")
        if not isinstance(owner, int):
            continue
        run = runs.setdefault((owner, str(r.get("host", ""))), _HostRun())
        if r.kind == "rollback":
            run.rollbacks.append((str(r.get("phase", "")), r.ts, dict(r.body)))
        elif r.get("phase") == "started":
            run.started.append((str(r.get("purpose", "")), r.ts))
        else:
            code = r.get("exit_code")
            run.finished.append((str(r.get("purpose", "")),
                                 code if isinstance(code, int) else -1, r.ts))
    return runs


def _applies(purposes: Sequence[str]) -> list[str]:
    """The purposes between the arm and the confirmation (the isolation commands)."""
    arm = next((i for i, p in enumerate(purposes) if p.startswith(_ARM)), None)
    if arm is None:
        return []
    rest = list(purposes[arm + 1:])
    end = next((i for i, p in enumerate(rest) if p.startswith(_CONFIRM)), len(rest))
    return rest[:end]


def _since(run: _HostRun) -> str | None:
    """The host's "isolated since" recorded with the confirmation, if any (a valid time)."""
    for phase, _ts, body in run.rollbacks:
        match = _SINCE.search(str(body.get("detail", ""))) if phase == "confirmed" else None
        if match:
            try:
                parse_time(match.group(1))
            except InvalidTargetError:
                continue
            return match.group(1)
    return None


def _timeout(run: _HostRun) -> int | None:
    """The confirm timeout: seconds from the arming until the host rolls back by itself."""
    for phase, _ts, body in run.rollbacks:
        if phase == "armed" and isinstance(body.get("seconds_left"), int):
            return int(body["seconds_left"])
    return None


def _unconfirmed(host: str, action: Action, run: _HostRun, start: str,
                 source: str, applied: bool) -> IsolationPeriod:
    """A period whose isolation was not confirmed: the host's timer was to end it."""
    timeout = _timeout(run)
    bound = (f"at most the confirm timeout: {timeout} s after the apply" if timeout
             else "at most the confirm timeout after the apply")
    phases = {phase: ts for phase, ts, _ in run.rollbacks}
    confirming = any(p.startswith(_CONFIRM) for p, _ in run.started) and not any(
        p.startswith(_CONFIRM) for p, _, _ in run.finished)
    what = "not confirmed" if applied else (
        "not confirmed; whether it was applied is not recorded (irtui stopped during the "
        "apply)")
    base = IsolationPeriod(host, start, None, source, note=what, action_id=action.id,
                           confirmed=False, in_force=False)
    if "rolled back" in phases:
        seen = phases["rolled back"]
        return replace(base, ending=f"ended by its rollback timer, seen rolled back at {seen}",
                       at_most_s=max(0.0, seconds_between(start, seen)))
    if "not rolled back" in phases:
        return replace(base, ending=f"still isolated after its rollback deadline (seen at "
                       f"{phases['not rolled back']})", in_force=True)
    ending = f"ended by its rollback timer, time unknown ({bound})"
    if confirming:
        ending += ("; unless the confirmation, under way when irtui stopped, reached the "
                   "host: not recorded")
    if "unknown" in phases:
        ending += f"; the host could not be read after the deadline ({phases['unknown']})"
    return replace(base, ending=ending, at_most_s=float(timeout) if timeout else None)


def _period(host: str, action: Action, run: _HostRun) -> IsolationPeriod | None:
    """The period one isolate action began on ``host``, or None (nothing applied there)."""
    result = action.results.get(host)
    if result is not None and result.ok and result.outcome == "unchanged":
        return None  # already isolated: the earlier period goes on
    planned = _applies([str(c.get("purpose", "")) for c in action.record.get("commands", [])
                        if c.get("host") == host])
    done = _applies([p for p, _, _ in run.finished])
    under_way = _applies([p for p, _ in run.started])
    applied = bool(done) and all(code == 0 for p, code, _ in run.finished if p in done) \
        and (not planned or len(done) == len(planned))
    confirmed = any(phase == "confirmed" for phase, _, _ in run.rollbacks)
    since = _since(run)
    last_apply = next((ts for p, _, ts in reversed(run.finished) if p in done), None)
    if confirmed or (result is not None and result.ok):
        start, source = ((since, SINCE_ON_HOST) if since else
                         (last_apply, APPLY_FINISHED) if last_apply and applied else
                         (result.ts if result else action.end or action.ts, RESULT_RECORDED))
        note = "" if result is not None and result.ok else (
            f"confirmed; the run ended {result.outcome if result else 'interrupted'}")
        return IsolationPeriod(host, start, None, source, note=note, action_id=action.id)
    if applied and last_apply:
        return _unconfirmed(host, action, run, last_apply, APPLY_FINISHED, applied=True)
    failed_apply = any(p in done and code != 0 for p, code, _ in run.finished)
    if len(under_way) > len(done) and not failed_apply and result is None:
        began = [ts for p, ts in run.started if p in under_way][len(done)]
        return _unconfirmed(host, action, run, began, APPLY_STARTED, applied=False)
    return None


def isolations_of(actions: Sequence[Action], records: Sequence[Record]) -> list[IsolationPeriod]:
    """Every isolation period of ``actions`` (chain order), from their ``records`` (the
    incident's records, chain order; empty: only host results are read)."""
    runs = _runs(records)
    open_periods: dict[str, IsolationPeriod] = {}
    # not confirmed, its end by the timer not seen: a release that removed an isolation
    # before another isolate ran ended it (the timer then found nothing to undo)
    pending: dict[str, IsolationPeriod] = {}
    periods: list[IsolationPeriod] = []
    for action in actions:
        if action.kind != "plan":
            continue
        if action.action == "isolate":
            skipped = action.record.get("skipped", {}) or {}
            for host in action.hosts:
                if host in skipped or host in open_periods:
                    continue
                period = _period(host, action, runs.get((action.id, host), _HostRun()))
                if period is None:
                    continue
                if host in pending:
                    periods.append(pending.pop(host))
                if period.in_force:
                    open_periods[host] = period
                elif period.end is None and "time unknown" in period.ending:
                    pending[host] = period
                else:
                    periods.append(period)
        elif action.action == "release":
            for host, result in action.results.items():
                if not result.ok or result.outcome == "unchanged":
                    continue
                if host in open_periods:
                    periods.append(replace(open_periods.pop(host), end=result.ts,
                                           ending="", at_most_s=None, in_force=False))
                elif host in pending:
                    period = pending.pop(host)
                    periods.append(replace(period, end=result.ts, ending="", at_most_s=None,
                                           note=f"{period.note}; released before its "
                                           "rollback timer fired"))
    periods += open_periods.values()
    periods += pending.values()
    return sorted(periods, key=lambda p: (parse_time(p.start), p.host))
