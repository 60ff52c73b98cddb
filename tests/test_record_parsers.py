"""Parsers and folds of the incident record: ids, times, phases, canonical bytes (property
tests), the recorder with a UID that has no passwd entry, and the import of earlier JSONL
trails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irtui.core.audit import AuditLog
from irtui.core.errors import InvalidTargetError
from irtui.core.record.chain import canonical, verify_chain
from irtui.core.record.incidents import (
    TRANSITIONS,
    Phase,
    check_transition,
    format_id,
    next_id,
    parse_id,
    parse_phase,
)
from irtui.core.record.legacy import import_trails, pending_trails
from irtui.core.record.recorder import IncidentRecorder
from irtui.core.record.register import SECRET_KEY, _secret, clean
from irtui.core.record.store import SQLiteStore
from irtui.core.record.times import parse_time, utc_stamp


@given(year=st.integers(1000, 9999), number=st.integers(1, 999_999))
def test_incident_ids_round_trip(year: int, number: int) -> None:
    text = format_id(year, number)
    assert parse_id(text) == text == parse_id(text.lower())
    assert next_id(year, [text]) == format_id(year, number + 1)


@given(st.text(max_size=30))
def test_any_text_is_an_id_or_one_clear_error(text: str) -> None:
    try:
        parsed = parse_id(text)
    except InvalidTargetError as exc:
        assert "INC-2026-0042" in exc.fix
    else:
        assert parsed.startswith("INC-") and parse_id(parsed) == parsed


def test_next_id_ignores_other_years_and_junk() -> None:
    assert next_id(2026, ["INC-2025-0007", "INC-2026-0041", "junk", ""]) == "INC-2026-0042"
    assert next_id(2027, ["INC-2026-0041"]) == "INC-2027-0001"


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31),
                    timezones=st.just(UTC)))
def test_record_times_round_trip_to_the_millisecond(moment: datetime) -> None:
    stamp = utc_stamp(moment)
    assert stamp.endswith("Z") and len(stamp) == 24
    assert parse_time(stamp) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31)),
       st.integers(-23 * 60, 23 * 60))
def test_offsets_are_converted_to_utc(naive: datetime, minutes: int) -> None:
    sign = "-" if minutes < 0 else "+"
    text = naive.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(minutes) // 60:02d}:" \
        f"{abs(minutes) % 60:02d}"
    expected = naive.replace(microsecond=0, tzinfo=UTC) - timedelta(minutes=minutes)
    assert parse_time(text) == expected


@given(st.text(max_size=40))
def test_any_text_is_a_time_or_one_clear_error(text: str) -> None:
    try:
        moment = parse_time(text)
    except InvalidTargetError as exc:
        assert "ISO 8601" in exc.fix
    else:
        assert moment.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01T00:00", "2026-01-01T24:00",
                                  "yesterday", "2026-01-01T10:00+25:00", ""])
def test_impossible_times_are_refused(text: str) -> None:
    with pytest.raises(InvalidTargetError):
        parse_time(text)


def test_phases_follow_nist_with_enforced_transitions() -> None:
    assert parse_phase("Analyzing") is Phase.ANALYSING
    check_transition(Phase.DETECTED, Phase.CONTAINED)  # containment may come first
    with pytest.raises(InvalidTargetError, match="from analysing go to contained or closed"):
        check_transition(Phase.ANALYSING, Phase.RECOVERING)
    assert all(phase not in allowed for phase, allowed in TRANSITIONS.items())


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text()
                    | st.floats(allow_nan=False, allow_infinity=False),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@given(st.dictionaries(st.text(max_size=8), JSON, max_size=6))
def test_canonical_bytes_are_stable_through_a_round_trip(body: dict) -> None:
    data = canonical(body)
    assert canonical(json.loads(data)) == data
    assert list(json.loads(data)) == sorted(body)  # keys sorted, whatever order they came in


def test_a_recorder_records_secrets_redacted_and_text_cleaned(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "record.db")
    recorder = IncidentRecorder(store, tmp_path / "audit")
    recorder.write("custom", password="hunter2", smtp_token="abc", detail="bad \udcff byte")
    (record,) = [r for r in store.records() if r.kind == "custom"]
    assert record.get("password") == "[redacted]" and record.get("smtp_token") == "[redacted]"
    assert "hunter2" not in (tmp_path / "record.db").read_bytes().decode("utf-8", "replace")
    assert record.get("detail") == "bad ? byte"
    assert verify_chain(*store.raw()).ok


_KEY_WORDS = st.sampled_from(["pass", "password", "PassPhrase", "secret", "token", "api",
                              "key", "api_key", "ApiKey", "credential", "\u017fecret",
                              "api\u212aey", "198.19.0.1/32", "2001:db8::/32", "smtp", "_"])


@given(st.lists(st.one_of(_KEY_WORDS, st.text(max_size=8)), max_size=4).map("".join))
def test_a_secret_key_is_named_exactly_as_the_pattern_says(key: str) -> None:
    """The cheap pre-check before :data:`SECRET_KEY` never changes its answer (ASCII case
    folding, and Unicode keys such as U+017F "ſecret" still redacted)."""
    assert _secret(key) is (SECRET_KEY.search(key) is not None)
    assert clean({key: "value"})[key] == ("[redacted]" if _secret(key) else "value")


def test_a_uid_without_a_passwd_entry_records_as_uid() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to a UID with no passwd entry")
    data = Path(tempfile.mkdtemp(prefix="irtui-uid-"))
    data.chmod(0o777)
    cfg = data / "config.toml"
    cfg.write_text(f'[record]\npath = "{data}/record.db"\n[audit]\ndir = "{data}/audit"\n')
    cfg.chmod(0o644)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(data)}
    out = subprocess.run([sys.executable, "-m", "irtui", "--config", str(cfg), "incident",
                          "new", "nobody", "home"], env=env, capture_output=True, text=True,
                         timeout=60, preexec_fn=lambda: (os.setgid(54321), os.setuid(54321)))
    assert out.returncode == 0, out.stderr
    (record,) = SQLiteStore(data / "record.db").records()
    assert record.get("analyst").startswith("uid 54321@")
    shutil.rmtree(data)


def test_earlier_jsonl_trails_are_imported_never_dropped(tmp_path: Path) -> None:
    old = AuditLog(tmp_path / "audit", session="20250101T000000Z-1")
    old.note("notify", "email 'old' to soc@example.org", True, "<id@example.org>")
    old.write("plan", action="block", summary="block 203.0.113.9 on web1")
    old.transcript_path.write_text("00:00:01 web1 stdout: done\n")
    with old.trail_path.open("ab") as fh:
        fh.write(b'{"event": "result", "ok": tr')  # the half line a crash leaves
    store = SQLiteStore(tmp_path / "record.db")
    recorder = IncidentRecorder(store, tmp_path / "audit")
    incident = recorder.register.open("old trails", "low")
    assert pending_trails(recorder.register, tmp_path / "audit") == [old.trail_path]
    report = import_trails(recorder.register, tmp_path / "audit", incident.id)
    assert report.imported == {str(old.trail_path): 3}
    assert report.unreadable == {str(old.trail_path): [3]}
    rows = [r for r in store.records(incident.id) if r.kind == "legacy"]
    assert [r.get("event") for r in rows] == ["action", "plan", "unreadable"]
    assert rows[0].get("original")["summary"] == "email 'old' to soc@example.org"
    assert rows[2].get("text") == '{"event": "result", "ok": tr'
    (session,) = store.records(incident.id, kinds=["legacy.session"])
    assert store.read_artifact(session.get("transcript")["sha256"]) == b"00:00:01 web1 " \
        b"stdout: done\n"
    again = import_trails(recorder.register, tmp_path / "audit", incident.id)
    assert again.already == [str(old.trail_path)] and not again.imported
    assert pending_trails(recorder.register, tmp_path / "audit") == []
    assert verify_chain(*store.raw()).ok


def test_a_plan_carries_its_own_reason_else_the_incident_title(tmp_path: Path) -> None:
    from irtui.core.plan import Plan

    store = SQLiteStore(tmp_path / "record.db")
    recorder = IncidentRecorder(store, tmp_path / "audit")
    recorder.register.open("beacon to 203.0.113.9", "high")
    first, second = Plan("block", "block a", ["web1"]), Plan("block", "block b", ["web1"])
    recorder.give_reason(first, "C2 address from the EDR alert")
    recorder.track(first)
    recorder.track(second)
    plans = store.records(kinds=["plan"])
    assert [(p.get("reason"), p.get("reason_given")) for p in plans] == [
        ("C2 address from the EDR alert", True), ("beacon to 203.0.113.9", False)]


def test_an_unwritable_record_is_one_clear_error_and_the_summary_says_so(tmp_path: Path) -> None:
    from irtui.core.errors import AuditError

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    recorder = IncidentRecorder(SQLiteStore(blocker / "record.db"), tmp_path / "audit")
    assert recorder.summary().startswith("The incident record cannot be read: cannot open "
                                         f"the incident record {blocker / 'record.db'}")
    with pytest.raises(AuditError, match=r"set record\.path to a writable file"):
        recorder.register.open("x")


def test_a_locked_or_damaged_record_says_what_to_do_about_it(tmp_path: Path,
                                                              monkeypatch) -> None:
    """Each cause gets its own fix: another process holding the write lock is waited for,
    a damaged file is kept as evidence and set aside — never "make it writable"."""
    import sqlite3
    import threading

    from irtui.core.errors import AuditError
    from irtui.core.record import store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "record.db"
    IncidentRecorder(SQLiteStore(path), tmp_path / "audit").register.open("first")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out: list[BaseException] = []

        def attempt() -> None:
            try:
                IncidentRecorder(SQLiteStore(path), tmp_path / "audit").register.open("x")
            except AuditError as exc:
                out.append(exc)
        worker = threading.Thread(target=attempt)
        worker.start()
        worker.join(20)
        assert out, "no error while another process held the lock"
        assert "another process" in out[0].line and "writable" not in out[0].line, out[0].line
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    with pytest.raises(AuditError) as caught:
        IncidentRecorder(SQLiteStore(damaged), tmp_path / "audit").register.open("x")
    line = caught.value.line
    assert "damaged" in line and "keep it" in line and "writable" not in line, line
    assert damaged.read_bytes().startswith(b"SQLite format 3\x00")  # left as it was


def test_audit_import_of_a_file_or_an_empty_directory_says_so(tmp_path: Path) -> None:
    """``irtui audit import trail.jsonl`` imported nothing and said nothing, exit 0."""
    from irtui.core.config import write_toml_atomic
    from tests.cli_helpers import refusal_line, run_irtui

    cfg = tmp_path / "config.toml"
    write_toml_atomic(cfg, {"hosts": [{"name": "web1", "address": "192.0.2.10"}],
                            "audit": {"dir": str(tmp_path / "audit")},
                            "record": {"path": str(tmp_path / "record.db")}})
    trail = tmp_path / "old" / "session.jsonl"
    trail.parent.mkdir()
    trail.write_text('{"event": "block", "ts": "2025-01-01T00:00:00Z"}\n')
    for missing in (trail, tmp_path / "nowhere"):
        out = run_irtui("--config", str(cfg), "audit", "import", str(missing))
        assert out.returncode == 2, out
        assert "is not a directory" in refusal_line(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run_irtui("--config", str(cfg), "audit", "import", str(empty))
    assert out.returncode == 0 and b"no trail" in out.stdout, out
    out = run_irtui("--config", str(cfg), "audit", "import", str(trail.parent))
    assert out.returncode == 0 and b"imported" in out.stdout, out
