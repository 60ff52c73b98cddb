"""The report's figures on a real SQLite record: refusals before any change are counted apart
and never read "failed"; blocks are split into what is still intended and what ended
(unblocked or expired); time to contain stops only at a successful containment."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from irtui.core.errors import InvalidTargetError, NotifyError, SSHError
from irtui.core.events import HostResult, Outcome, PlanResult
from irtui.core.plan import EntryFate, EntryStatus, Plan
from irtui.core.record.metrics import BlockState
from irtui.core.record.recorder import IncidentRecorder
from irtui.core.record.report import ReportInput, build_context, render
from irtui.core.record.stops import StopKind
from irtui.core.record.store import SQLiteStore
from irtui.core.record.times import parse_time, seconds_between


@pytest.fixture
def recorder(tmp_path: Path) -> IncidentRecorder:
    rec = IncidentRecorder(SQLiteStore(tmp_path / "record.db"), tmp_path / "audit")
    rec.use(rec.register.open("report figures", "high").id)
    return rec


def run(rec: IncidentRecorder, action: str, outcomes: dict[str, Outcome],
        entries: tuple[str, ...] = (), finish: bool = True,
        kept: dict[str, dict[str, int | None]] | None = None, **params: Any) -> int:
    """Record one plan of ``action`` with these host outcomes (``kept``: the plan's
    ``kept_ttl``); returns its action id."""
    fate = EntryFate.TO_REMOVE if action == "unblock" else EntryFate.TO_ADD
    plan = Plan(action, f"{action} {' '.join(entries)}".strip(), list(outcomes),
                entries={h: {e: EntryStatus(fate) for e in entries} for h in outcomes},
                kept_ttl=kept or {})
    rec.parameters(plan, **params)
    track = rec.track(plan)
    results = tuple(HostResult(h, o, o.value) for h, o in outcomes.items())
    for result in results:
        track.event(result)
    if finish:
        rec.result(PlanResult(action, plan.summary, results))
    return track.id


def refuse(rec: IncidentRecorder, error: Exception, action: str = "block", **kw: Any) -> None:
    """What the CLI does when an IrtuiError stops a verb: record it while handling it."""
    try:
        raise error
    except type(error) as exc:
        rec.error(action, str(exc), **kw)


def context(rec: IncidentRecorder, at: datetime | None = None,
            whole: bool = True) -> dict[str, Any]:
    incident = rec.register.get(rec.incident_id() or "")
    return build_context(ReportInput(
        incident, rec.store.records(incident.id), {}, {"ok": True, "count": 0, "head": ""},
        whole_record=rec.store.records() if whole else None, at=at), rec.store)


def test_refusals_before_any_change_are_counted_apart_and_never_read_failed(
        recorder: IncidentRecorder) -> None:
    run(recorder, "block", {"host1": Outcome.OK}, ("203.0.113.9/32",), ttl_s=None)
    for bad in ("203.0.113.999", "127.0.0.1", "host9"):
        refuse(recorder, InvalidTargetError(f"{bad}: not something irtui can block",
                                            "name an address"))
    refuse(recorder, InvalidTargetError("0.0.0.0/0: too large", "narrow it"), dry_run=True)
    refuse(recorder, SSHError("host2: unreachable", "check the host"))
    ctx = context(recorder)
    m = ctx["metrics"]
    assert (m.actions, m.succeeded, m.failed, m.interrupted) == (1, 1, 0, 0)
    assert (m.refused, m.not_run, m.dry_run_stops) == (3, 1, 1)  # a dry run is no action
    rows = [r for r in ctx["timeline"] if r["what"].startswith(("refused", "not run", "error"))]
    assert [r["outcome"] for r in rows] == ["refused (nothing changed)"] * 4 + [
        "not run (nothing changed)"]
    assert "(dry run)" in rows[3]["what"] and "0.0.0.0/0: too large" in rows[3]["detail"]
    assert not any(r["outcome"] == "failed" for r in ctx["timeline"])
    markdown, html = render(ctx)
    assert ("Actions: 1 — 1 succeeded, 0 failed, 0 interrupted; not actions (nothing "
            "changed): 3 runs refused before any change (bad input, host key or config; dry "
            "runs not included), 1 stopped by an error before any change; 1 dry runs stopped "
            "by an error (counted apart" in markdown)
    assert "| failed |" not in markdown
    assert 'class="refused">refused (nothing changed)<' in html


def test_an_error_while_a_plan_runs_belongs_to_that_action(recorder: IncidentRecorder) -> None:
    plan_id = run(recorder, "isolate", {"host1": Outcome.OK}, finish=False)
    refuse(recorder, InvalidTargetError("record cannot be written", "free space"),
           action="isolate")
    ctx = context(recorder)
    m = ctx["metrics"]
    (stop,) = m.stops
    assert (stop.kind, stop.action_id) == (StopKind.FAILED, plan_id)
    assert (m.actions, m.interrupted, m.failed, m.refused, m.not_run) == (1, 1, 0, 0, 0)
    row = next(r for r in ctx["timeline"] if r["what"].startswith("error in"))
    assert row["outcome"] == "failed" and f"(action #{plan_id})" in row["what"]


def test_a_failed_notification_and_its_error_count_once(recorder: IncidentRecorder) -> None:
    recorder.note("notify", "'host1 isolated' (no channel)", False, "no channel configured")
    refuse(recorder, NotifyError("no channel configured", "add one"), action="notify")
    m = context(recorder)["metrics"]
    assert (m.actions, m.failed, m.notifications_failed, m.refused, m.not_run) == (1, 1, 1, 0, 0)


def test_error_records_written_before_the_stop_field_are_not_failures(
        recorder: IncidentRecorder) -> None:
    incident = recorder.incident_id()
    recorder.append("error", incident, action="block", message="bad IOC")
    run(recorder, "block", {"host1": Outcome.OK}, ("203.0.113.9/32",), finish=False)
    recorder.append("error", incident, action="block", message="record full")
    m = context(recorder)["metrics"]
    assert [s.kind for s in m.stops] == [StopKind.NOT_RUN, StopKind.FAILED]
    assert (m.not_run, m.failed, m.interrupted, m.actions) == (1, 0, 1, 1)


def test_blocks_are_split_into_still_intended_and_ended(recorder: IncidentRecorder) -> None:
    both = {"host1": Outcome.OK, "host2": Outcome.OK}
    run(recorder, "block", both, ("203.0.113.9/32",), ttl_s=None)
    run(recorder, "unblock", both, ("203.0.113.9/32",))
    run(recorder, "block", {"host1": Outcome.OK}, ("198.51.100.66/32",), ttl_s=60)
    run(recorder, "block", both, ("192.0.2.7/32",), ttl_s=None)
    run(recorder, "unblock", {"host2": Outcome.OK}, ("192.0.2.7/32",))
    run(recorder, "block", {"host1": Outcome.OK}, ("192.0.2.8/32",))  # TTL not recorded
    run(recorder, "block", {"host1": Outcome.OK}, ("198.51.100.5/32",), ttl_s=None)
    run(recorder, "unblock", {"host1": Outcome.FAILED}, ("192.0.2.7/32",))
    first = recorder.incident_id()
    recorder.use(recorder.register.open("cleanup", "low").id)
    run(recorder, "unblock", {"host1": Outcome.OK}, ("198.51.100.5/32",))
    recorder.use(first or "")

    soon = datetime.now(UTC) + timedelta(seconds=10)
    later = datetime.now(UTC) + timedelta(seconds=120)
    state = {b.entry: b for b in context(recorder, at=later)["metrics"].blocks}
    assert state["203.0.113.9/32"].state is BlockState.UNBLOCKED
    assert state["198.51.100.66/32"].state is BlockState.EXPIRED
    expiry = state["198.51.100.66/32"].ended_at
    assert expiry and seconds_between(state["198.51.100.66/32"].placed_at, expiry) == 60
    assert state["192.0.2.7/32"].state is BlockState.INTENDED
    assert state["192.0.2.7/32"].intended_hosts == ("host1",)
    assert state["192.0.2.8/32"].state is BlockState.UNKNOWN
    assert state["198.51.100.5/32"].state is BlockState.UNBLOCKED  # in another incident
    assert {b.entry: b.state for b in context(recorder, at=soon)["metrics"].blocks}[
        "198.51.100.66/32"] is BlockState.INTENDED
    alone = context(recorder, at=later, whole=False)["metrics"].blocks
    assert {b.entry: b.state for b in alone}["198.51.100.5/32"] is BlockState.INTENDED

    ctx = context(recorder, at=later)
    assert ctx["intended"] == [("192.0.2.7/32", ["host1"])]
    markdown, _ = render(ctx)
    line = next(x for x in markdown.splitlines() if x.startswith("- Addresses intended"))
    assert line.endswith(": 192.0.2.7/32 on host1") and "not a live read" in line
    ever = next(x for x in markdown.splitlines() if x.startswith("- Addresses blocked at"))
    unblocked = state["203.0.113.9/32"].ended_at
    assert f"203.0.113.9/32 (unblocked at {unblocked})" in ever
    assert f"198.51.100.66/32 (expired at {expiry})" in ever
    assert "192.0.2.8/32 on host1" in next(x for x in markdown.splitlines()
                                          if x.startswith("- Not unblocked, TTL not recorded"))


def test_time_to_contain_stops_only_at_a_successful_containment(
        recorder: IncidentRecorder) -> None:
    detected = "2020-01-01T00:00:00.000Z"
    run(recorder, "block", {"host1": Outcome.FAILED, "host2": Outcome.FAILED},
        ("203.0.113.9/32",), ttl_s=None)
    refuse(recorder, InvalidTargetError("127.0.0.1: loopback", "name another address"))
    run(recorder, "isolate", {"host1": Outcome.INCONCLUSIVE})
    run(recorder, "isolate", {"host1": Outcome.INTERRUPTED})
    run(recorder, "isolate", {"host2": Outcome.FAILED}, finish=False)  # killed: no result
    run(recorder, "unblock", {"host1": Outcome.OK}, ("203.0.113.9/32",))
    good = run(recorder, "block", {"host1": Outcome.OK}, ("203.0.113.9/32",), ttl_s=None)
    incident = recorder.register.get(recorder.incident_id() or "")
    records = recorder.store.records(incident.id)
    chain = {"ok": True, "count": len(records), "head": ""}
    ctx = build_context(ReportInput(incident, records, {}, chain, detected_at=detected),
                        recorder.store)
    m = ctx["metrics"]
    (stopped,) = (r for r in recorder.store.records(incident.id)
                  if r.kind == "host_result" and r.get("action_id") == good)
    host1 = next(h for h in m.hosts if h.host == "host1")
    assert host1.contained_at == stopped.ts and host1.first_isolation is None
    assert host1.time_to_contain_s == pytest.approx(
        (parse_time(stopped.ts) - parse_time(detected)).total_seconds())
    host2 = next(h for h in m.hosts if h.host == "host2")
    assert host2.contained_at is None and host2.time_to_contain_s is None
    assert m.time_to_contain_s == host1.time_to_contain_s and m.hosts_contained == 1
    assert m.uncontained == ["host2"]
    assert "targeted but never contained: host2" in render(ctx)[0]


def test_a_detection_time_after_the_containment_is_never_a_negative_time_to_contain(
        recorder: IncidentRecorder) -> None:
    """A detection time typed in local time but read as UTC can fall after the containment:
    the time to contain is then unknown, with the reason, never a negative number."""
    run(recorder, "block", {"host1": Outcome.OK}, ("203.0.113.9/32",), ttl_s=None)
    incident = recorder.register.get(recorder.incident_id() or "")
    records = recorder.store.records(incident.id)
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ctx = build_context(ReportInput(incident, records, {}, {"ok": True, "count": 0, "head": ""},
                                    detected_at=later), recorder.store)
    m = ctx["metrics"]
    host1 = next(h for h in m.hosts if h.host == "host1")
    assert host1.contained_at is not None and host1.time_to_contain_s is None
    assert m.time_to_contain_s is None and m.start_after == host1.contained_at
    markdown, html = render(ctx)
    for text in (markdown, html):
        assert not re.search(r"-\d[\d.]* s\b", text), text
        assert f"recorded at {host1.contained_at}, before the detection time" in text
    assert m.hosts_contained == 1


def test_the_summary_keeps_one_line_per_figure(recorder: IncidentRecorder) -> None:
    run(recorder, "block", {"host1": Outcome.OK}, ("203.0.113.9/32",), ttl_s=None)
    markdown, _html = render(context(recorder))
    lines = markdown.splitlines()
    assert any(x.startswith("- Hosts contained: 1; time to contain:") for x in lines), markdown
    assert any(x.startswith("- Notifications: 0 sent") for x in lines), markdown


def test_a_detection_time_in_the_future_is_refused(recorder: IncidentRecorder) -> None:
    with pytest.raises(InvalidTargetError, match="in the future"):
        recorder.register.open("typo", "high", "2099-01-01T00:00:00Z")
    soon = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    assert recorder.register.open("clock skew", "high", soon).detected_at


@pytest.mark.parametrize("uncontained", [False, True])
def test_the_summary_keeps_time_to_contain_and_notifications_on_their_own_lines(
        recorder: IncidentRecorder, uncontained: bool) -> None:
    outcomes = {"host1": Outcome.OK, **({"host2": Outcome.FAILED} if uncontained else {})}
    run(recorder, "isolate", outcomes)
    incident = recorder.register.get(recorder.incident_id() or "")
    records = recorder.store.records(incident.id)
    chain = {"ok": True, "count": len(records), "head": ""}
    markdown, _ = render(build_context(ReportInput(incident, records, {}, chain),
                                       recorder.store))
    lines = markdown.splitlines()
    contained = next(x for x in lines if x.startswith("- Hosts contained: 1; time to contain"))
    assert "Notifications" not in contained  # was "… 31.6 s- Notifications: 2 sent"
    assert "- Notifications: 0 sent, 0 failed" in lines


def test_a_block_kept_longer_than_asked_shows_the_ttl_the_host_keeps(
        recorder: IncidentRecorder) -> None:
    """host1 already held the entry permanently (kept: a block is never shortened by
    blocking again); host2 got the 60 s asked. Two minutes later only host2's copy ended."""
    both = {"host1": Outcome.OK, "host2": Outcome.OK}
    run(recorder, "block", both, ("203.0.113.9/32",), kept={"host1": {"203.0.113.9/32": None}},
        ttl_s=60)
    rows = context(recorder, at=datetime.now(UTC) + timedelta(seconds=120))["metrics"].blocks
    by_hosts = {r.hosts: r for r in rows if r.entry == "203.0.113.9/32"}
    assert set(by_hosts) == {("host1",), ("host2",)}, rows
    assert by_hosts[("host1",)].state is BlockState.INTENDED
    assert by_hosts[("host2",)].state is BlockState.EXPIRED



def test_a_large_feed_is_summed_up_not_listed_in_the_summary(
        recorder: IncidentRecorder) -> None:
    """A 100,000-entry feed made each summary line megabytes: the lines show 20 entries and
    how many more; every entry stays in the blocks table."""
    entries = tuple(f"198.51.100.{i}/32" for i in range(1, 31))
    run(recorder, "block", {"host1": Outcome.OK}, entries, ttl_s=None)
    run(recorder, "block", {"host1": Outcome.OK}, ("192.0.2.8/32",))  # TTL not recorded
    markdown, html = render(context(recorder))
    def bullet(text: str, label: str) -> str:
        return text.split(label, 1)[1].split("\n", 1)[0].split("</li>", 1)[0]

    for text in (markdown, html):
        line = bullet(text, "Addresses intended blocked")
        assert line.count(" on host1") == 20 and "and 10 more (every one is in the blocks " \
            "table)" in line, line
        line = bullet(text, "Addresses blocked at some point")
        assert line.count("198.51.100.") + line.count("192.0.2.8") == 20 and "and 11 more" \
            in line, line
        assert all(entry.removesuffix("/32") in text for entry in entries)  # in the table


def test_a_feed_blocked_then_unblocked_is_reported_in_linear_time(
        recorder: IncidentRecorder) -> None:
    """Each unblock used to rebuild every block row and re-parse each row's entry: a new
    user's report of 4,000 blocked and unblocked addresses took 87 s, 100,000 never ended.
    5,000 here (81 s before, under a second now); each unblock ends its entry on its own
    host only."""
    entries = tuple(f"198.19.{i // 256}.{i % 256}/32" for i in range(5_000))
    run(recorder, "block", {"host1": Outcome.OK, "host2": Outcome.OK}, entries, ttl_s=None)
    run(recorder, "unblock", {"host1": Outcome.OK}, entries)
    run(recorder, "unblock", {"host2": Outcome.OK}, entries[:10])
    started = time.monotonic()
    blocks = {b.entry: b for b in context(recorder)["metrics"].blocks}
    assert time.monotonic() - started < 60  # a generous bound: the quadratic path took far more
    assert len(blocks) == 5_000
    ended = [b for b in blocks.values() if b.state is BlockState.UNBLOCKED]
    assert {b.entry for b in ended} == set(entries[:10])
    still = blocks[entries[10]]
    assert still.state is BlockState.INTENDED and still.intended_hosts == ("host2",)
    assert [h for h, _ in still.unblocked] == ["host1"]


def test_without_a_detection_time_the_report_says_what_its_time_to_contain_measures(
        recorder: IncidentRecorder) -> None:
    """No detection time (an incident opened by the action itself): time to contain counts
    from the opening, which the report says, with how to measure from detection; with a
    detection time, no such caveat."""
    run(recorder, "block", {"host1": Outcome.OK}, ("203.0.113.9/32",), ttl_s=None)
    incident = recorder.register.get(recorder.incident_id() or "")
    records = recorder.store.records(incident.id)
    chain = {"ok": True, "count": len(records), "head": ""}
    plain = render(build_context(ReportInput(incident, records, {}, chain), recorder.store))
    for text in plain:
        assert "No detection time was recorded" in text and "--detected-at" in text
    dated = render(build_context(ReportInput(incident, records, {}, chain,
                                             detected_at="2020-01-01T00:00:00.000Z"),
                                 recorder.store))
    assert all("No detection time was recorded" not in text for text in dated)


def test_an_interrupted_action_settled_by_a_later_result_is_no_longer_uncertain(
        recorder: IncidentRecorder) -> None:
    """An isolate killed before any result (no host_result), then a release and a new
    isolate that ended ok: the isolation is judged again (drift can show it widened), not
    left "uncertain" for good; an interrupted action after the last result still is."""
    from irtui.core.record.drift import intended_state

    def killed(action: str) -> None:
        plan = Plan(action, f"{action} host1", ["host1"])
        recorder.parameters(plan)
        recorder.track(plan)  # no host result: the process was killed

    def intent():
        records = recorder.store.records(recorder.incident_id() or "")
        return intended_state(records, datetime.now(UTC))["host1"]

    killed("isolate")
    assert "isolation" in intent().uncertain
    run(recorder, "release", {"host1": Outcome.OK})
    run(recorder, "isolate", {"host1": Outcome.OK})
    assert "isolation" not in intent().uncertain and intent().isolated_since
    killed("release")
    assert "isolation" in intent().uncertain
