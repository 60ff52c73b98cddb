"""Isolation periods and counts in the report, on a real SQLite record written the way the
recorder writes an isolation (plan, steps, rollback timer events, host result, result):
every isolation the record shows applied is a period (confirmed, interrupted after its
confirmation, or left to its rollback timer), starting at the apply time, and no end the
record does not hold is made up; dry runs are no actions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from irtui.core.audit import utc_now
from irtui.core.errors import InvalidTargetError
from irtui.core.events import (
    HostResult,
    Outcome,
    PlanResult,
    RollbackEvent,
    StepFinished,
    StepStarted,
    TimerPhase,
)
from irtui.core.plan import Plan, Step
from irtui.core.record.isolations import APPLY_FINISHED, SINCE_ON_HOST
from irtui.core.record.recorder import ActionTrack, IncidentRecorder
from irtui.core.record.report import render
from irtui.core.record.store import SQLiteStore
from tests.test_report_metrics import context, refuse, run

ARM = "arm a rollback on the host: undo in 30 s unless confirmed"
APPLY = "isolate the host: drop everything but the management addresses"
CONFIRM = "confirm over a new SSH connection, then disarm the rollback"
TEST = "self-test: 192.0.2.50:22 must be unreachable"
PURPOSES = ("save the current rulesets", ARM, APPLY, CONFIRM, TEST)


@pytest.fixture
def recorder(tmp_path: Path) -> IncidentRecorder:
    rec = IncidentRecorder(SQLiteStore(tmp_path / "record.db"), tmp_path / "audit")
    rec.use(rec.register.open("isolation periods", "high").id)
    return rec


def _isolate(rec: IncidentRecorder, host: str = "host1") -> ActionTrack:
    plan = Plan("isolate", f"isolate {host}", [host],
                steps=[Step(host, f"ssh {host} step{i}", p) for i, p in enumerate(PURPOSES)])
    return rec.track(plan)


def _step(track: ActionTrack, host: str, purpose: str, code: int | None = 0) -> None:
    """A step as the executor reports it (``code`` None: started, never finished)."""
    track.event(StepStarted(host, purpose, purpose))
    if code is not None:
        track.event(StepFinished(host, purpose, code, 0.2))


def _applied(rec: IncidentRecorder, host: str = "host1") -> tuple[ActionTrack, str]:
    """An isolation armed and applied on ``host``; returns its track and its "since"."""
    track = _isolate(rec, host)
    _step(track, host, PURPOSES[0])
    _step(track, host, ARM)
    track.event(RollbackEvent(host, TimerPhase.ARMED, 30, "the host removes the isolation"))
    since = utc_now()  # the time stamped on the host, taken just before the apply
    time.sleep(1.1)    # the apply takes a moment: its step finishes after "since"
    _step(track, host, APPLY)
    return track, since


def _finish(rec: IncidentRecorder, track: ActionTrack, host: str, outcome: Outcome,
            message: str) -> None:
    result = HostResult(host, outcome, message, 3.0)
    track.event(result)
    rec.result(PlanResult("isolate", track.plan.summary, (result,)))


def _record_ts(rec: IncidentRecorder, kind: str, **match: object) -> str:
    found = [r for r in rec.store.records(rec.incident_id())
             if r.kind == kind and all(r.get(k) == v for k, v in match.items())]
    return found[-1].ts


def test_a_confirmed_isolation_starts_at_its_apply_time_not_its_result(
        recorder: IncidentRecorder) -> None:
    track, since = _applied(recorder)
    _step(track, "host1", CONFIRM)
    track.event(RollbackEvent("host1", TimerPhase.CONFIRMED, None, f"isolated since {since}"))
    _step(track, "host1", TEST)
    _finish(recorder, track, "host1", Outcome.OK, "isolated")
    run(recorder, "release", {"host1": Outcome.OK})
    (period,) = context(recorder)["metrics"].isolations
    result_ts = _record_ts(recorder, "host_result", action="isolate")
    assert period.start == since and period.start_source == SINCE_ON_HOST
    assert period.start < result_ts  # was the result's time, seconds late
    assert period.end == _record_ts(recorder, "host_result", action="release")
    markdown, html = render(context(recorder))
    assert f"| host1 | {since} | {SINCE_ON_HOST} | {period.end} |" in markdown
    assert SINCE_ON_HOST in html


def test_an_isolation_interrupted_after_its_confirmation_is_a_period(
        recorder: IncidentRecorder) -> None:
    """Ctrl-C during the self-test: "interrupted: the isolation is confirmed"; the host was
    isolated until its release."""
    track, since = _applied(recorder)
    _step(track, "host1", CONFIRM)
    track.event(RollbackEvent("host1", TimerPhase.CONFIRMED, None, f"isolated since {since}"))
    _step(track, "host1", TEST, code=130)
    _finish(recorder, track, "host1", Outcome.INTERRUPTED,
            "interrupted: the isolation is confirmed (no rollback pending); the self-test "
            "was not run")
    run(recorder, "release", {"host1": Outcome.OK})
    ctx = context(recorder)
    m = ctx["metrics"]
    (period,) = m.isolations
    assert (period.host, period.start, period.confirmed) == ("host1", since, True)
    assert period.end == _record_ts(recorder, "host_result", action="release")
    assert "interrupted" in period.note
    # an interrupted run is still no verified containment, but never "never contained"
    assert (m.interrupted, m.hosts_contained, m.uncontained) == (1, 0, [])
    assert m.isolated_unverified == ["host1"]
    markdown, _ = render(ctx)
    assert "never contained" not in markdown
    assert "not counted as contained: host1" in markdown


def test_a_confirmed_isolation_still_in_force_says_so(recorder: IncidentRecorder) -> None:
    track, since = _applied(recorder)
    _step(track, "host1", CONFIRM)
    track.event(RollbackEvent("host1", TimerPhase.CONFIRMED, None, f"isolated since {since}"))
    _step(track, "host1", TEST, code=130)
    _finish(recorder, track, "host1", Outcome.INTERRUPTED, "interrupted: confirmed")
    (period,) = context(recorder)["metrics"].isolations
    assert period.end is None and period.until == "still isolated" and period.in_force


def test_an_isolation_killed_before_its_confirmation_ended_by_its_timer_time_unknown(
        recorder: IncidentRecorder) -> None:
    """kill -9 after the apply: no confirmation, no result; the host's timer removed the
    isolation at a time the record does not hold."""
    track, _since = _applied(recorder)
    _step(track, "host1", CONFIRM, code=None)  # the confirmation was under way
    apply_ts = _record_ts(recorder, "step", purpose=APPLY, phase="finished")
    ctx = context(recorder)
    m = ctx["metrics"]
    (period,) = m.isolations
    assert (period.start, period.start_source, period.end) == (apply_ts, APPLY_FINISHED, None)
    assert not period.confirmed and not period.in_force and period.at_most_s == 30
    assert period.until.startswith("ended by its rollback timer, time unknown (at most the "
                                   "confirm timeout: 30 s after the apply)")
    assert "confirmation, under way when irtui stopped" in period.until
    assert m.interrupted == 1 and m.isolated_unverified == ["host1"]
    markdown, html = render(ctx)
    row = next(line for line in markdown.splitlines() if line.startswith("| host1 | 20"))
    assert "still isolated" not in row and "at most 30.0 s" in row and "not confirmed" in row
    assert "time unknown" in html


def test_an_unconfirmed_isolation_released_before_its_timer_ends_at_the_release(
        recorder: IncidentRecorder) -> None:
    """Ctrl-C before the confirmation, then `irtui release`: the release removed the
    isolation (its timer later found nothing to undo), so the period ends then, not "by its
    rollback timer"."""
    track, _since = _applied(recorder)
    _finish(recorder, track, "host1", Outcome.INTERRUPTED, "interrupted: not confirmed")
    run(recorder, "release", {"host1": Outcome.OK})
    released = _record_ts(recorder, "result", action="release")
    (period,) = context(recorder)["metrics"].isolations
    assert period.end is not None and released.startswith(period.end[:19])
    assert "rollback timer" not in period.until
    assert "released before its rollback timer fired" in period.note
    # a release that found nothing (the timer had fired) ends nothing
    track, _since = _applied(recorder)
    _finish(recorder, track, "host1", Outcome.INTERRUPTED, "interrupted: not confirmed")
    run(recorder, "release", {"host1": Outcome.UNCHANGED})
    periods = context(recorder)["metrics"].isolations
    assert len(periods) == 2 and periods[1].end is None
    assert periods[1].until.startswith("ended by its rollback timer, time unknown")


def test_an_unconfirmed_isolation_seen_rolled_back_ends_by_then(
        recorder: IncidentRecorder) -> None:
    """The confirmation failed; irtui waited for the deadline and saw the host roll back."""
    track, _since = _applied(recorder)
    _step(track, "host1", CONFIRM, code=1)
    track.event(RollbackEvent("host1", TimerPhase.ROLLED_BACK, None,
                              "isolation removed by the host's own timer"))
    _finish(recorder, track, "host1", Outcome.FAILED, "could not confirm; rolled back")
    seen = _record_ts(recorder, "rollback", phase="rolled back")
    (period,) = context(recorder)["metrics"].isolations
    assert period.end is None and not period.confirmed
    assert period.until == f"ended by its rollback timer, seen rolled back at {seen}"
    assert period.at_most_s is not None and 0 < period.at_most_s < 30


def test_an_apply_that_failed_is_no_period(recorder: IncidentRecorder) -> None:
    track = _isolate(recorder)
    _step(track, "host1", PURPOSES[0])
    _step(track, "host1", ARM)
    track.event(RollbackEvent("host1", TimerPhase.ARMED, 30, "armed"))
    _step(track, "host1", APPLY, code=1)
    track.event(RollbackEvent("host1", TimerPhase.DISARMED, None, "nothing was isolated"))
    _finish(recorder, track, "host1", Outcome.FAILED, "nothing was isolated")
    assert context(recorder)["metrics"].isolations == []


def test_dry_runs_are_no_actions_and_are_counted_apart(recorder: IncidentRecorder) -> None:
    """Typos given to --dry-run (a bad TTL, a bad feed) made "refused before any change: 14"
    while a dry run that succeeds records nothing."""
    for bad in ("10x", "forever", "-5m"):
        refuse(recorder, InvalidTargetError(f"TTL {bad!r} is not a duration", "give 10m"),
               dry_run=True)
    refuse(recorder, InvalidTargetError("feed.txt line 3: not an address", "fix it"),
           dry_run=True)
    refuse(recorder, InvalidTargetError("TTL 'x' is not a duration", "give 10m"))
    m = context(recorder)["metrics"]
    assert (m.refused, m.dry_run_stops, m.actions, m.failed) == (1, 4, 0, 0)
    markdown, html = render(context(recorder))
    assert ("| Runs refused before any change: bad input, host key or config (not actions; "
            "dry runs not included) | 1 |") in markdown
    assert "| Dry runs stopped by an error (not actions, in no other figure; successful " \
        "dry runs are not recorded) | 4 |" in markdown
    assert "Dry runs stopped by an error" in html
