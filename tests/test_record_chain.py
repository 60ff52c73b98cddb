"""The hash chain on a real SQLite store: every kind of tampering is found and named, the
store is append-only, concurrent writers and killed writers never break it."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irtui.core.errors import AuditError
from irtui.core.record.chain import GENESIS, Tamper, canonical, digest, verify_chain
from irtui.core.record.recorder import IncidentRecorder
from irtui.core.record.store import SQLiteStore

RECORDS = 12


def _filled(tmp_path: Path, count: int = RECORDS) -> Path:
    """A store with an incident and ``count - 1`` notes after its opening record."""
    store = SQLiteStore(tmp_path / "record.db")
    recorder = IncidentRecorder(store, tmp_path / "audit")
    incident = recorder.register.open("tamper test", "high")
    for i in range(count - 1):
        recorder.register.add_note(incident.id, f"note {i} — café")
    store.close()
    return tmp_path / "record.db"


def _verify(path: Path):
    store = SQLiteStore(path)
    try:
        return verify_chain(*store.raw())
    finally:
        store.close()


def _db(path: Path) -> sqlite3.Connection:
    """The store opened the way someone with sqlite3 and write access would: triggers off."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute("DROP TRIGGER records_no_delete")
    return conn


def _body(conn: sqlite3.Connection, seq: int) -> dict:
    return json.loads(conn.execute("SELECT body FROM records WHERE seq = ?", (seq,)).fetchone()[0])


def _put(conn: sqlite3.Connection, seq: int, body: dict, rehash: bool = True,
         old_hash: str | None = None) -> None:
    data = canonical(body).decode()
    sha = digest(data.encode()) if rehash else old_hash
    conn.execute("UPDATE records SET body = ?, hash = ? WHERE seq = ?", (data, sha, seq))


def edit(conn: sqlite3.Connection, seq: int) -> None:
    body = _body(conn, seq)
    body["text" if "text" in body else "title"] = "nothing happened here"
    old = conn.execute("SELECT hash FROM records WHERE seq = ?", (seq,)).fetchone()[0]
    _put(conn, seq, body, rehash=False, old_hash=old)


def edit_and_rehash(conn: sqlite3.Connection, seq: int) -> None:
    body = _body(conn, seq)
    body["analyst"] = "someone-else@elsewhere"
    _put(conn, seq, body)


def delete(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("DELETE FROM records WHERE seq = ?", (seq,))


def _shift_up(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("UPDATE records SET seq = -seq WHERE seq >= ?", (seq,))
    conn.execute("UPDATE records SET seq = 1 - seq WHERE seq < 0")


def insert(conn: sqlite3.Connection, seq: int) -> None:
    """A forged record at ``seq``, chained properly to the one before it."""
    prev = conn.execute("SELECT hash FROM records WHERE seq = ?", (seq - 1,)).fetchone()
    body = dict(_body(conn, seq), seq=seq, prev=prev[0] if prev else GENESIS,
                text="forged: all hosts were fine")
    _shift_up(conn, seq)
    data = canonical(body)
    conn.execute("INSERT INTO records (seq, hash, body, incident, kind) VALUES (?, ?, ?, ?, ?)",
                 (seq, digest(data), data.decode(), body.get("incident"), body["kind"]))


def swap(conn: sqlite3.Connection, seq: int) -> None:
    """Swap record ``seq`` with the next one (the rows trade places)."""
    conn.execute("UPDATE records SET seq = -1 WHERE seq = ?", (seq,))
    conn.execute("UPDATE records SET seq = ? WHERE seq = ?", (seq, seq + 1))
    conn.execute("UPDATE records SET seq = ? WHERE seq = -1", (seq + 1,))


TAMPERING: dict[str, tuple[Callable[[sqlite3.Connection, int], None], Tamper, int]] = {
    # name: (operation, what verify must say, offset of the record it must name)
    "edit": (edit, Tamper.EDITED, 0),
    "edit_and_rehash": (edit_and_rehash, Tamper.EDITED, 0),
    "delete": (delete, Tamper.DELETED, 0),
    "insert": (insert, Tamper.INSERTED, 0),
    "swap": (swap, Tamper.REORDERED, 0),
}


def test_an_untouched_chain_verifies(tmp_path: Path) -> None:
    report = _verify(_filled(tmp_path))
    assert report.ok and report.count == RECORDS and report.head_seq == RECORDS


@pytest.mark.parametrize("name", sorted(TAMPERING))
@pytest.mark.parametrize("seq", [1, 5, RECORDS - 1])
def test_tampering_is_found_and_named(tmp_path: Path, name: str, seq: int) -> None:
    path = _filled(tmp_path)
    operation, tamper, offset = TAMPERING[name]
    with _db(path) as conn:
        operation(conn, seq)
    report = _verify(path)
    assert not report.ok
    assert report.problem is not None
    assert report.problem.tamper is tamper, report.problem.message
    assert report.problem.seq == seq + offset, report.problem.message
    assert f"#{seq + offset}" in report.problem.message


def test_the_last_record_deleted_or_rehashed_is_caught_by_the_head(tmp_path: Path) -> None:
    path = _filled(tmp_path)
    with _db(path) as conn:
        delete(conn, RECORDS)
    report = _verify(path)
    assert report.problem is not None and report.problem.tamper is Tamper.TRUNCATED
    assert f"#{RECORDS - 1}" in report.problem.message

    path = _filled(tmp_path / "b")
    with _db(path) as conn:
        edit_and_rehash(conn, RECORDS)
    report = _verify(path)
    assert report.problem is not None and report.problem.tamper is Tamper.EDITED
    assert report.problem.seq == RECORDS


def test_a_forged_record_appended_past_the_head_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path)
    with _db(path) as conn:
        last = conn.execute("SELECT hash FROM records WHERE seq = ?", (RECORDS,)).fetchone()[0]
        body = dict(_body(conn, RECORDS), seq=RECORDS + 1, prev=last, text="forged")
        data = canonical(body)
        conn.execute("INSERT INTO records (seq, hash, body, incident, kind) "
                     "VALUES (?, ?, ?, ?, ?)", (RECORDS + 1, digest(data), data.decode(),
                                                body["incident"], body["kind"]))
    report = _verify(path)
    assert report.problem is not None and report.problem.tamper is Tamper.INSERTED
    assert report.problem.seq == RECORDS + 1


def test_an_edited_index_column_is_found(tmp_path: Path) -> None:
    """Moving a record to another incident only in the look-up column (to hide it from that
    incident's report) is an edit too."""
    path = _filled(tmp_path)
    with _db(path) as conn:
        conn.execute("UPDATE records SET incident = 'INC-1999-0001' WHERE seq = 4")
    report = _verify(path)
    assert report.problem is not None and report.problem.tamper is Tamper.EDITED
    assert report.problem.seq == 4


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(TAMPERING)), seq=st.integers(1, RECORDS - 1),
       count=st.integers(RECORDS, RECORDS + 4))
def test_any_tampering_anywhere_is_named(tmp_path_factory, name: str, seq: int,
                                         count: int) -> None:
    path = _filled(tmp_path_factory.mktemp("chain"), count)
    operation, tamper, offset = TAMPERING[name]
    with _db(path) as conn:
        operation(conn, seq)
    report = _verify(path)
    assert report.problem is not None
    assert (report.problem.tamper, report.problem.seq) == (tamper, seq + offset)


def test_the_store_refuses_updates_and_deletes(tmp_path: Path) -> None:
    path = _filled(tmp_path, 3)
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE records SET body = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM records WHERE seq = 2")
    conn.close()
    assert _verify(path).ok
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _writer(path: str, name: str, count: int) -> None:
    store = SQLiteStore(Path(path))
    for i in range(count):
        store.append({"kind": "test", "writer": name, "i": i, "ts": "2026-01-01T00:00:00.000Z"})
    store.close()


def test_concurrent_processes_build_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "record.db"
    SQLiteStore(path).check()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), f"w{n}", 60)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    report = _verify(path)
    assert report.ok and report.count == 180
    writers = [r.get("writer") for r in SQLiteStore(path).records()]
    assert {w: writers.count(w) for w in set(writers)} == {"w0": 60, "w1": 60, "w2": 60}


def _opener(directory: str, rounds: int, barrier: Any) -> None:
    failed = 0
    for n in range(rounds):
        barrier.wait(30)
        start = (time.time() // 0.02 + 1) * 0.02  # the same next 20 ms tick for all of them
        while time.time() < start:
            pass
        store = SQLiteStore(Path(directory) / f"record-{n}.db")
        try:
            store.append({"kind": "test", "round": n, "ts": "2026-01-01T00:00:00.000Z"})
        except AuditError as exc:
            print(f"round {n}: {exc}", file=sys.stderr)
            failed += 1
        store.close()
    sys.exit(1 if failed else 0)


def test_processes_creating_one_new_record_at_the_same_moment_all_write(
        tmp_path: Path) -> None:
    """Two irtui processes started at once on a machine with no record yet both create it
    (SQLite answers the switch to WAL "database is locked" at once while another process
    has the new file open; seen in CI as a refused isolation)."""
    ctx = multiprocessing.get_context("spawn")
    rounds, writers = 20, 4
    barrier = ctx.Barrier(writers)
    procs = [ctx.Process(target=_opener, args=(str(tmp_path), rounds, barrier))
             for _ in range(writers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * writers
    for n in range(rounds):
        report = _verify(tmp_path / f"record-{n}.db")
        assert report.ok and report.count == writers


HALF_WRITE = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO records (seq, hash, body, incident, kind) VALUES "
             "(999, 'x', '{\"half\": true}', NULL, 'plan')")
print("inside", flush=True)
time.sleep(60)
"""


def test_a_writer_killed_mid_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    path = _filled(tmp_path, 4)
    proc = subprocess.Popen([sys.executable, "-c", HALF_WRITE, str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "inside"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    started = time.monotonic()
    store = SQLiteStore(path)
    store.append({"kind": "test", "ts": "2026-01-01T00:00:00.000Z"})  # the lock is free
    assert time.monotonic() - started < 5
    report = verify_chain(*store.raw())
    assert report.ok and report.count == 5
    assert all(not r.get("half") for r in store.records())
