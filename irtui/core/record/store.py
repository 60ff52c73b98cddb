"""Where the incident record lives: a small :class:`RecordStore` interface and the embedded
:class:`SQLiteStore`.

The store only appends. It assigns each record its ``seq`` and ``prev`` (the SHA-256 of the
record before, see :mod:`irtui.core.record.chain`) inside one write transaction, so several
irtui processes sharing one store still build one unbroken chain, and a process killed
mid-write leaves either the whole record or nothing. Files a record refers to (transcripts,
snapshots, screenshots) are kept as content-addressed artifacts beside it.

Another backend (e.g. a team's PostgreSQL) implements the same interface; nothing outside
this module knows which one is in use. See the README ("A shared store for a team").
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irtui.core.errors import AuditError
from irtui.core.record.chain import GENESIS, StoredRecord, canonical, digest
from irtui.core.record.group_commit import GroupCommit, Take

IdAllocator = Callable[[Sequence[str]], str]
"""``allocate(existing_incident_ids) -> new id``, called inside the write transaction."""
Pending = tuple[Mapping[str, Any], IdAllocator | None]
"""An append waiting for its transaction: its fields and its incident id allocator."""


@dataclass(frozen=True)
class Record:
    """One record as read back: its ``seq``, ``hash`` and parsed ``body``."""

    seq: int
    hash: str
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        """``plan``, ``step``, ``host_result``, ``result``, ``incident.opened``..."""
        return str(self.body.get("kind", ""))

    @property
    def ts(self) -> str:
        """UTC time written, ``2026-03-01T14:05:09.250Z``."""
        return str(self.body.get("ts", ""))

    @property
    def incident(self) -> str:
        """The incident id, or ``""``."""
        return str(self.body.get("incident") or "")

    def get(self, key: str, default: Any = None) -> Any:
        """A body field."""
        return self.body.get(key, default)


@dataclass(frozen=True)
class ArtifactRef:
    """A file kept beside the record: ``sha256`` of its bytes, ``size`` in bytes, and
    ``location`` (a path for the SQLite store)."""

    sha256: str
    size: int
    location: str

    def as_field(self) -> dict[str, Any]:
        """How a record refers to it."""
        return {"sha256": self.sha256, "bytes": self.size, "artifact": self.location}


class RecordStore(ABC):
    """The interface every store implements. All methods are thread-safe.

    Errors: every method raises :class:`~irtui.core.errors.AuditError` (problem + fix) when
    the store cannot be read or written; actions refuse to run without a record.
    """

    location: str
    """Where the store is, for messages (a path, or a URL without credentials)."""

    @abstractmethod
    def check(self) -> None:
        """Open (creating if needed) and make sure the store can be written."""

    @abstractmethod
    def append(self, fields: Mapping[str, Any],
               allocate_incident: IdAllocator | None = None) -> Record:
        """Append one record in one transaction: set ``seq`` and ``prev`` (and, with
        ``allocate_incident``, ``incident`` from the ids already used), then commit.

        Returns:
            The record as stored.
        """

    @abstractmethod
    def records(self, incident: str | None = None,
                kinds: Sequence[str] | None = None) -> list[Record]:
        """Records in chain order, optionally only one incident's and/or some kinds."""

    @abstractmethod
    def raw(self) -> tuple[list[StoredRecord], tuple[int, str] | None]:
        """Every record as stored, in order, and the head noted with the last append
        (for :func:`~irtui.core.record.chain.verify_chain`)."""

    @abstractmethod
    def setting(self, key: str) -> str | None:
        """A small mutable value kept beside the chain (e.g. an analyst's current
        incident); not part of the record."""

    @abstractmethod
    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or with None remove) a setting."""

    @abstractmethod
    def put_artifact(self, data: bytes) -> ArtifactRef:
        """Keep ``data`` beside the record (0600, addressed by its SHA-256)."""

    @abstractmethod
    def read_artifact(self, sha256: str) -> bytes | None:
        """The artifact's bytes, or None when it is missing."""

    def last_seq(self) -> int | None:
        """The newest record's ``seq`` (-1 when empty), to know cheaply whether anything
        was appended since; None when the store cannot say (callers then re-read)."""
        return None

    def close(self) -> None:  # noqa: B027 (optional)
        """Release connections."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, body TEXT NOT NULL,
    incident TEXT, kind TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_incident ON records (incident, seq);
CREATE INDEX IF NOT EXISTS records_kind ON records (kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'the incident record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'the incident record is append-only'); END;
"""
INSERT = "INSERT INTO records (seq, hash, body, incident, kind) VALUES (?, ?, ?, ?, ?)"
BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's transaction (sqlite3 busy_timeout)."""


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode, waiting (like ``busy_timeout``) while another process
    holds a lock on it. SQLite answers this pragma SQLITE_BUSY at once, without calling the
    busy handler, when another connection is using the file (https://sqlite.org/wal.html,
    "Activating And Configuring WAL Mode"); two irtui processes opening a new record at
    the same moment hit that.

    Raises:
        sqlite3.Error: still busy after ``BUSY_TIMEOUT_MS``, or any other error.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code not in (5, 6) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class SQLiteStore(RecordStore):
    """The embedded store: one SQLite file in WAL mode (readers never block the writer, and
    several processes on one host share it; https://sqlite.org/wal.html), opened lazily.

    Args:
        path: the database file; artifacts go to ``<stem>-artifacts/`` beside it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self.artifacts = self.path.with_name(self.path.stem + "-artifacts")
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self.group_commit: GroupCommit[Pending, Record] = GroupCommit(
            self._write_batch, self._interrupted)
        """The queue of appends waiting for a transaction (``group_commit.waiting``)."""

    def _interrupted(self, exc: BaseException) -> AuditError:
        """What the other appends of a batch raise when its writer was stopped by ``exc``
        (KeyboardInterrupt, SystemExit): the transaction was rolled back unless it had
        already committed."""
        return AuditError(f"the write to the incident record {self.path} was interrupted "
                          f"({type(exc).__name__})", "run irtui audit verify to see what was "
                          "recorded, then run the action again")

    def _fail(self, exc: BaseException, what: str = "write") -> AuditError:
        reason = getattr(exc, "strerror", None) or str(exc)
        return AuditError(f"cannot {what} the incident record {self.path} ({reason}); "
                          "nothing was changed", self._fix(exc))

    def _fix(self, exc: BaseException) -> str:
        """What to do about ``exc``, by its cause (SQLite result codes,
        https://sqlite.org/rescode.html; errno for the OS)."""
        code = getattr(exc, "sqlite_errorcode", None)
        code = code & 0xFF if isinstance(code, int) else None  # the primary result code
        err = getattr(exc, "errno", None)
        if code in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
            return (f"another process held its write lock for {BUSY_TIMEOUT_MS // 1000} s "
                    "(another irtui, or a tool with an open transaction on it): let it "
                    f"finish and run again; fuser {self.path} names it")
        if code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
            return ("the file is damaged or not an irtui record: keep it as evidence "
                    "(copy it aside, do not delete it), then set record.path to a new file "
                    "or move this one away, and run again")
        if code in (10, 13) or err in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            # SQLITE_IOERR, SQLITE_FULL: a full file system shows as either
            return (f"free space where it lives (df {self.path.parent}), or set record.path "
                    "on a file system with space")
        return "set record.path to a writable file (or fix its permissions)"

    def _open(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _enter_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")
        except (OSError, sqlite3.Error) as exc:
            raise self._fail(exc, "open") from None
        self._conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._open()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # the failure to report is the first one
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._fail(exc) from None
                raise

    def check(self) -> None:
        """See :meth:`RecordStore.check`."""
        with self._write():
            pass
        try:
            self.artifacts.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise self._fail(exc) from None

    def append(self, fields: Mapping[str, Any],
               allocate_incident: IdAllocator | None = None) -> Record:
        """See :meth:`RecordStore.append`. Group commit (:mod:`.group_commit`): appends from
        several threads at once share one transaction, chained in the order they were
        queued, so 50 worker threads wait for a few fsyncs instead of one each; this still
        returns only once the transaction holding this record has committed.

        Raises:
            AuditError: the transaction failed (none of its records was written).
            ValueError, TypeError: ``fields`` holds a value JSON cannot represent, or an
                ``incident`` that is not a string; or whatever ``allocate_incident``
                raised. Only this record is then not written.
                ``allocate_incident`` runs inside the transaction: it must not use the store.
        """
        return self.group_commit.submit((fields, allocate_incident))

    def _write_batch(self, take: Take[Pending]) -> list[Record | Exception]:
        """One transaction for the queued appends (``take()`` once the write lock is
        held, so everything queued while waiting for it joins): read the head once, chain
        the records in queue order, insert them, note the new head, commit."""
        with self._write() as conn:
            return self._chain(conn, take())

    def _chain(self, conn: sqlite3.Connection,
               batch: Sequence[Pending]) -> list[Record | Exception]:
        row = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        rows: list[tuple[int, str, str, str | None, str]] = []
        out: list[Record | Exception] = []
        for fields, allocate in batch:
            if allocate is not None:  # it sees the incidents opened earlier in this batch
                conn.executemany(INSERT, rows)
                rows.clear()
                used = [r[0] for r in conn.execute(
                    "SELECT DISTINCT incident FROM records WHERE kind = 'incident.opened'")]
            try:
                body = dict(fields)
                if allocate is not None:
                    body["incident"] = allocate(used)
                body.update(seq=seq, prev=prev)
                data = canonical(body)
                incident = body.get("incident")
                if not isinstance(incident, str | None):  # its index column holds text
                    raise TypeError(f"a record's incident is an id, not {incident!r}")
            except Exception as exc:  # this record alone cannot be written
                out.append(exc)
                continue
            sha = digest(data)
            rows.append((seq, sha, data.decode("utf-8"), incident, str(body.get("kind", ""))))
            out.append(Record(seq, sha, body))
            seq, prev = seq + 1, sha
        conn.executemany(INSERT, rows)
        if any(isinstance(r, Record) for r in out):
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('head', ?)",
                         (json.dumps([seq - 1, prev]),))
        return out

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._open().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise self._fail(exc, "read") from None

    def records(self, incident: str | None = None,
                kinds: Sequence[str] | None = None) -> list[Record]:
        """See :meth:`RecordStore.records`."""
        where, args = [], []
        if incident is not None:
            where.append("incident = ?")
            args.append(incident)
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args += list(kinds)
        sql = ("SELECT seq, hash, body FROM records"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq")
        out = []
        for seq, sha, body in self._read(sql, args):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = {"kind": "unreadable", "text": body}
            out.append(Record(seq, sha, parsed if isinstance(parsed, dict) else {}))
        return out

    def last_seq(self) -> int | None:
        """See :meth:`RecordStore.last_seq`."""
        rows = self._read("SELECT max(seq) FROM records")
        return -1 if not rows or rows[0][0] is None else int(rows[0][0])

    def raw(self) -> tuple[list[StoredRecord], tuple[int, str] | None]:
        """See :meth:`RecordStore.raw`."""
        rows = self._read("SELECT seq, hash, body, incident, kind FROM records ORDER BY seq")
        head = self._read("SELECT value FROM meta WHERE key = 'head'")
        stored = [StoredRecord(seq, sha, body, {"incident": inc, "kind": kind})
                  for seq, sha, body, inc, kind in rows]
        try:
            seq, sha = json.loads(head[0][0]) if head else (None, None)
        except (ValueError, TypeError):
            seq, sha = -1, "unreadable"
        return stored, (int(seq), str(sha)) if seq is not None else None

    def setting(self, key: str) -> str | None:
        """See :meth:`RecordStore.setting`."""
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_setting(self, key: str, value: str | None) -> None:
        """See :meth:`RecordStore.set_setting`."""
        with self._write() as conn:
            if value is None:
                conn.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                             (key, value))

    def put_artifact(self, data: bytes) -> ArtifactRef:
        """See :meth:`RecordStore.put_artifact`. Written to a temporary name, then renamed,
        so a killed process never leaves a half artifact under its hash."""
        sha = digest(data)
        target = self.artifacts / sha[:2] / sha
        if not target.exists():
            try:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = target.with_name(f".{sha}.{os.getpid()}.{threading.get_ident()}")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, target)
            except OSError as exc:
                raise self._fail(exc) from None
        return ArtifactRef(sha, len(data), str(target))

    def read_artifact(self, sha256: str) -> bytes | None:
        """See :meth:`RecordStore.read_artifact`."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            return None
        try:
            return (self.artifacts / sha256[:2] / sha256).read_bytes()
        except OSError:
            return None

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
