"""Group commit in the incident record's SQLite store: many threads' appends share
transactions, yet the chain is the one a single writer would build, every caller gets its
own committed record, and a failed transaction fails exactly its batch."""

from __future__ import annotations

import multiprocessing
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from irtui.core.errors import AuditError
from irtui.core.record.chain import verify_chain
from irtui.core.record.register import IncidentRegister
from irtui.core.record.store import Record, SQLiteStore

TS = "2026-01-01T00:00:00.000Z"
DEADLINE_S = 30.0


def _statements(store: SQLiteStore) -> list[str]:
    """Every SQL statement the store's own connection runs from now on (sqlite3's trace
    callback: what SQLite is asked to execute, not what the store says it did)."""
    seen: list[str] = []
    store._open().set_trace_callback(lambda sql: seen.append(sql.strip().upper()))
    return seen


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


@contextmanager
def _write_lock_held(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's view: a connection holding the file's write lock (BEGIN
    IMMEDIATE) until the block ends, so the store's next transaction waits (busy_timeout)
    and every append made meanwhile queues for it."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


def _in_threads(count: int, work: Callable[[int], object]) -> tuple[
        list[threading.Thread], dict[int, object]]:
    """Start ``count`` threads running ``work(n)``; each one's return value or exception
    lands in the dict under ``n`` when it ends."""
    outcomes: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            outcomes[n] = work(n)
        except Exception as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads, outcomes


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(DEADLINE_S)
        assert not thread.is_alive(), "an append never returned"


def test_many_threads_build_one_chain_in_few_transactions(tmp_path: Path) -> None:
    threads, per_thread = 32, 50
    total = threads * per_thread
    store = SQLiteStore(tmp_path / "record.db")
    store.check()
    statements = _statements(store)
    start = threading.Barrier(threads)

    def writer(n: int) -> list[Record]:
        start.wait()
        return [store.append({"kind": "test", "writer": n, "i": i, "ts": TS})
                for i in range(per_thread)]

    workers, outcomes = _in_threads(threads, writer)
    _join(workers)
    commits = statements.count("COMMIT")
    assert not [o for o in outcomes.values() if isinstance(o, Exception)]

    raw, head = store.raw()
    report = verify_chain(raw, head)
    assert report.ok, report.problem
    assert [r.seq for r in raw] == list(range(1, total + 1))
    assert head == (total, raw[-1].hash)
    on_disk = {r.seq: r for r in store.records()}
    for n, records in outcomes.items():
        assert isinstance(records, list) and len(records) == per_thread
        # its own records, in its own order, exactly as they are on disk
        assert [r.seq for r in records] == sorted(r.seq for r in records)
        for i, record in enumerate(records):
            stored = on_disk[record.seq]
            assert (stored.hash, stored.get("writer"), stored.get("i")) == (record.hash, n, i)
            assert dict(stored.body) == dict(record.body)
    # one transaction per record would be `total` COMMITs
    assert 0 < commits <= total // 4, f"{commits} COMMITs for {total} records"
    store.close()


def _threaded_writer(path: str, name: str, threads: int, count: int, start: Any) -> None:
    """A process of its own with ``threads`` threads appending ``count`` records each,
    from when every process is ready (``start``, a multiprocessing barrier)."""
    store = SQLiteStore(Path(path))
    store.check()
    start.wait(60)

    def work(n: int) -> None:
        for i in range(count):
            store.append({"kind": "test", "writer": f"{name}.{n}", "i": i, "ts": TS})
            time.sleep(0.002)  # a worker's remote step between two records

    workers, outcomes = _in_threads(threads, work)
    _join(workers)
    store.close()
    assert not [o for o in outcomes.values() if isinstance(o, Exception)], outcomes


def test_processes_each_with_many_threads_build_one_chain(tmp_path: Path) -> None:
    """Two irtui processes on one file, each batching its own threads' appends: however
    their transactions interleave (BEGIN IMMEDIATE, busy_timeout; SQLite does not promise
    a fair turn), they build one unbroken chain, each thread's records in its order."""
    store = SQLiteStore(tmp_path / "record.db")
    store.check()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_threaded_writer, args=(str(store.path), f"p{n}", 8, 40,
                                                        start)) for n in range(2)]
    for proc in procs:
        proc.start()
    assert [(proc.join(120), proc.exitcode)[1] for proc in procs] == [0, 0]
    report = verify_chain(*store.raw())
    assert report.ok and report.count == 2 * 8 * 40, report.problem
    order: dict[str, list[int]] = {}
    for record in store.records():
        order.setdefault(str(record.get("writer")), []).append(int(record.get("i")))
    assert order == {f"p{p}.{n}": list(range(40)) for p in range(2) for n in range(8)}
    store.close()


def test_a_failed_transaction_fails_its_whole_batch_and_writes_none(tmp_path: Path) -> None:
    """The file is full (SQLite's own cap on its size, ``max_page_count``, hit for real by
    the INSERTs): every append of the batch raises AuditError, none is written, and once
    there is room again the next append works and the chain still verifies."""
    path = tmp_path / "record.db"
    store = SQLiteStore(path)
    for i in range(3):
        store.append({"kind": "test", "i": i, "ts": TS})
    conn = store._open()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 4}")  # a few records' room: "disk full"
    statements = _statements(store)
    callers = 8
    with _write_lock_held(path):
        threads, outcomes = _in_threads(callers, lambda n: store.append(
            {"kind": "output", "n": n, "text": "x" * 2000, "ts": TS}))
        _until(lambda: store.group_commit.waiting == callers, "every append is queued")
    _join(threads)

    assert sorted(outcomes) == list(range(callers))
    for outcome in outcomes.values():
        assert isinstance(outcome, AuditError), outcome
        assert "full" in outcome.problem and "free space" in outcome.fix
    assert len({id(o) for o in outcomes.values()}) == callers  # each caller its own error
    # all eight were one transaction; some of them were inserted before the file was
    # full, and the failure rolled them back too (SQLite rolls back by itself on SQLITE_FULL)
    inserts = sum(s.startswith("INSERT INTO RECORDS") for s in statements)
    assert (statements.count("BEGIN IMMEDIATE"), statements.count("COMMIT")) == (1, 0)
    assert 1 < inserts < callers, statements
    raw, head = store.raw()
    assert [r.seq for r in raw] == [1, 2, 3] and verify_chain(raw, head).ok

    conn.execute("PRAGMA max_page_count = 1000000")  # room again
    record = store.append({"kind": "test", "i": 3, "ts": TS})
    raw, head = store.raw()
    assert record.seq == 4 and raw[-1].hash == record.hash and verify_chain(raw, head).ok
    store.close()


def test_one_bad_record_fails_only_its_own_append(tmp_path: Path) -> None:
    """A value JSON cannot hold (NaN) in one queued append, an incident id that is not a
    string in another, and incidents opened in the same transaction: only the two bad ones
    fail, the others are written, and each opening gets its own id."""
    path = tmp_path / "record.db"
    store = SQLiteStore(path)
    store.check()
    register = IncidentRegister(store, "analyst@jump", "s1")
    statements = _statements(store)

    def work(n: int) -> object:
        if n == 0:
            return store.append({"kind": "test", "score": float("nan"), "ts": TS})
        if n == 2:
            return store.append({"kind": "test", "incident": ["INC-2026-0001"], "ts": TS})
        if n % 2:
            return register.open(f"incident {n}", "high").id
        return store.append({"kind": "test", "n": n, "ts": TS})

    with _write_lock_held(path):
        threads, outcomes = _in_threads(6, work)
        _until(lambda: store.group_commit.waiting == 6, "every append is queued")
    _join(threads)

    assert isinstance(outcomes.pop(0), ValueError)
    assert isinstance(outcomes.pop(2), TypeError)
    assert not [o for o in outcomes.values() if isinstance(o, Exception)], outcomes
    ids = [outcomes[n] for n in (1, 3, 5)]
    assert len(set(ids)) == 3, ids
    assert {int(str(i).rsplit("-", 1)[1]) for i in ids} == {1, 2, 3}
    assert statements.count("COMMIT") == 4  # the four records in one, three settings
    raw, head = store.raw()
    assert verify_chain(raw, head).ok and len(raw) == 4
    assert sorted(r.incident for r in store.records(kinds=["incident.opened"])) == sorted(ids)
    store.close()


class Stop(BaseException):
    """What the test's signal handler raises in the main thread (a BaseException, like
    KeyboardInterrupt)."""


@contextmanager
def _stopped_by_signal() -> Iterator[Callable[[], None]]:
    """While the block runs, SIGUSR1 raises :class:`Stop` in the main thread (SIGINT is
    left to pytest); yields the function that sends it from another thread."""
    assert threading.current_thread() is threading.main_thread()
    main = threading.get_ident()

    def stop(signum: int, frame: object) -> None:
        raise Stop

    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        yield lambda: signal.pthread_kill(main, signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_caller_interrupted_while_queued_leaves_the_queue(tmp_path: Path) -> None:
    """Ctrl-C reaching a thread that waits for another's transaction: its record is not
    written, the writer ahead of it is, and the store goes on working (no caller is left
    waiting for a leader that never leads)."""
    path = tmp_path / "record.db"
    store = SQLiteStore(path)
    store.check()
    with _stopped_by_signal() as interrupt, _write_lock_held(path):
        ahead, outcomes = _in_threads(1, lambda n: store.append(
            {"kind": "test", "who": "ahead", "ts": TS}))
        _until(lambda: store.group_commit.waiting == 1, "the first append is queued")
        interrupter, _ = _in_threads(1, lambda n: (
            _until(lambda: store.group_commit.waiting == 2, "the main thread waits"),
            interrupt()))
        with pytest.raises(Stop):
            store.append({"kind": "test", "who": "interrupted", "ts": TS})
        _join(interrupter)
        assert store.group_commit.waiting == 1
    _join(ahead)
    assert isinstance(outcomes[0], Record) and outcomes[0].seq == 1
    after = store.append({"kind": "test", "who": "after", "ts": TS})
    assert [r.get("who") for r in store.records()] == ["ahead", "after"]
    assert after.seq == 2 and verify_chain(*store.raw()).ok
    store.close()


def test_a_writer_interrupted_mid_transaction_fails_its_batch_cleanly(tmp_path: Path) -> None:
    """Ctrl-C reaching the thread that is writing a batch (here while it waits for another
    process's write lock): it raises the interrupt, the others of its batch raise
    AuditError saying the write was interrupted, nothing of the batch is written, and the
    next append works."""
    path = tmp_path / "record.db"
    store = SQLiteStore(path)
    store.check()
    held = threading.Event()

    def other_process(interrupt: Callable[[], None]) -> dict[int, object]:
        with _write_lock_held(path):
            held.set()
            _until(lambda: store.group_commit.waiting == 1, "the main thread leads")
            followers, outcomes = _in_threads(3, lambda n: store.append(
                {"kind": "test", "who": f"follower {n}", "ts": TS}))
            _until(lambda: store.group_commit.waiting == 4, "the followers are queued")
            interrupt()  # handled once the main thread's BEGIN IMMEDIATE returns
        _join(followers)
        return outcomes

    with _stopped_by_signal() as interrupt:
        orchestrator, result = _in_threads(1, lambda n: other_process(interrupt))
        assert held.wait(DEADLINE_S)
        with pytest.raises(Stop):
            store.append({"kind": "test", "who": "main", "ts": TS})
        _join(orchestrator)
    outcomes = result[0]
    assert isinstance(outcomes, dict) and sorted(outcomes) == [0, 1, 2]
    for outcome in outcomes.values():
        assert isinstance(outcome, AuditError) and "interrupted" in outcome.problem, outcome
    assert store.records() == []
    record = store.append({"kind": "test", "who": "after", "ts": TS})
    assert record.seq == 1 and verify_chain(*store.raw()).ok
    store.close()
