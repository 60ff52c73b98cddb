"""The hash chain: canonical record bytes, and verification that names the first bad record.

Each record's body holds ``seq`` (its position, from 1) and ``prev`` (the SHA-256 of the
previous record's canonical bytes; :data:`GENESIS` for the first), the way git commits and
Certificate Transparency logs (RFC 6962) chain entries. The record's own hash is the SHA-256
of its canonical bytes: JSON with sorted keys, no spaces, UTF-8, no NaN/Infinity (in the
spirit of RFC 8785's JSON canonicalisation). Editing, deleting, inserting or reordering any
record breaks a link that :func:`verify_chain` finds, walking from the first record.

What a chain alone cannot show: records appended at the end by someone who recomputed the
hashes, or the last records cut off. The store's head (written in the same transaction as
each record) catches the naive forms of both; a signed head (``ssh-keygen -Y sign``, see
:mod:`irtui.core.record.signing`) catches them for real up to the signed record.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""The ``prev`` of the first record."""


def canonical(body: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a record body: JSON, keys sorted, no spaces, UTF-8.

    Raises:
        ValueError: the body holds NaN/Infinity or something JSON cannot represent.
    """
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def digest(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lower-case hex digits."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    """A record as the store holds it.

    Attributes:
        seq: its position in the store (the row number the store orders by).
        hash: the SHA-256 the store holds for it.
        body: its canonical JSON text (includes ``seq`` and ``prev``).
        index: the store's copies of body fields used for look-ups (``incident``, ``kind``),
            compared with the body on verification.
    """

    seq: int
    hash: str
    body: str
    index: Mapping[str, Any]

    def fields(self) -> dict[str, Any]:
        """The parsed body (raises ValueError when it is not a JSON object)."""
        value = json.loads(self.body)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value


class Tamper(enum.Enum):
    """How the chain was found broken."""

    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class ChainProblem:
    """The first bad record: ``seq`` is its position in the store, ``tamper`` what was
    done, ``message`` one line naming it (and its incident when known)."""

    seq: int
    tamper: Tamper
    message: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`.

    Attributes:
        count: records read.
        head: hash of the last record that verified (GENESIS for an empty store).
        head_seq: its seq (0 for an empty store).
        problem: the first problem, or None when the whole chain verifies.
    """

    count: int
    head: str
    head_seq: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        """True when every record verified."""
        return self.problem is None


def _incident_of(record: StoredRecord) -> str:
    try:
        incident = record.fields().get("incident")
    except ValueError:
        incident = record.index.get("incident")
    return f" (incident {incident})" if incident else ""


def _body_of(record: StoredRecord) -> dict[str, Any] | None:
    try:
        body = record.fields()
    except ValueError:
        return None
    if not isinstance(body.get("seq"), int) or not isinstance(body.get("prev"), str):
        return None
    return body


def _hash_matches(record: StoredRecord, body: dict[str, Any] | None) -> bool:
    if body is None:
        return False
    data = canonical(body)
    return data == record.body.encode("utf-8") and digest(data) == record.hash


def _self_consistent(record: StoredRecord, body: dict[str, Any] | None) -> bool:
    return _hash_matches(record, body) and all(
        body is not None and body.get(key) == value for key, value in record.index.items())


def _classify(records: Sequence[StoredRecord], i: int, good: str, expected: int,
              positions: Mapping[str, int]) -> ChainProblem:
    """Name what happened at position ``i``, the first record whose link is broken.
    ``good`` is the hash of the last record that verified, ``expected`` the seq due next."""
    record = records[i]
    where = f"record #{record.seq}{_incident_of(record)}"
    body = _body_of(record)
    consistent = _self_consistent(record, body)
    linked = positions.get(body["prev"]) if body is not None else None
    if _hash_matches(record, body) and linked is not None and linked > i:
        return ChainProblem(record.seq, Tamper.REORDERED,
                            f"{where} is out of order: it follows record "
                            f"#{records[linked].seq}, which comes after it")
    after = records[i + 1] if i + 1 < len(records) else None
    after_body = _body_of(after) if after is not None else None
    if after_body is not None and after_body["prev"] == good and after_body["seq"] == expected:
        return ChainProblem(record.seq, Tamper.INSERTED,
                            f"{where} was inserted: the next record links to the one before it")
    if not consistent:
        return ChainProblem(record.seq, Tamper.EDITED,
                            f"{where} was edited: its content no longer matches its SHA-256")
    assert body is not None
    if linked is not None and linked < i - 1:
        first = records[linked + 1]
        to = f"record #{records[linked].seq}" if linked >= 0 else "the start of the chain"
        return ChainProblem(first.seq, Tamper.INSERTED,
                            f"record #{first.seq}{_incident_of(first)} was inserted: {where} "
                            f"links to {to}")
    if body["seq"] > expected and linked is None:
        missing = (f"#{expected}" if body["seq"] == expected + 1
                   else f"#{expected} to #{body['seq'] - 1}")
        return ChainProblem(expected, Tamper.DELETED,
                            f"record {missing} deleted: {where} does not link to the record "
                            "before it")
    if i > 0 and linked is None:
        before = records[i - 1]
        return ChainProblem(before.seq, Tamper.EDITED,
                            f"record #{before.seq}{_incident_of(before)} was edited (its hash "
                            f"recomputed): {where} no longer links to it")
    return ChainProblem(record.seq, Tamper.EDITED,
                        f"{where} was edited: its position or link was changed")


def verify_chain(records: Sequence[StoredRecord], head: tuple[int, str] | None = None
                 ) -> ChainReport:
    """Verify ``records`` (in store order) from the first one.

    Args:
        records: every record of the store, ordered by ``seq``.
        head: the store's own note of its last ``(seq, hash)``, written with each record;
            records beyond it were added outside irtui, and a head beyond the last record
            means records were cut off.

    Returns:
        A :class:`ChainReport`; ``problem`` names the first bad record.
    """
    positions = {GENESIS: -1, **{r.hash: i for i, r in enumerate(records)}}
    good, expected = GENESIS, 1
    for i, record in enumerate(records):
        body = _body_of(record)
        linked = (body is not None and body["prev"] == good and body["seq"] == expected
                  and record.seq == expected)
        if not (linked and _self_consistent(record, body)):
            problem = _classify(records, i, good, expected, positions)
            return ChainReport(i, good, expected - 1, problem)
        good, expected = record.hash, expected + 1
    last = expected - 1
    if head is not None and head != (last, good):
        head_seq, head_hash = head
        if head_seq < last:
            extra = records[head_seq] if head_seq < len(records) else records[-1]
            return ChainReport(len(records), good, last, ChainProblem(
                extra.seq, Tamper.INSERTED, f"record #{extra.seq}{_incident_of(extra)} was "
                f"inserted: it comes after the store's recorded head #{head_seq}"))
        tamper = Tamper.TRUNCATED if head_seq > last else Tamper.EDITED
        return ChainReport(len(records), good, last, ChainProblem(
            last if head_seq == last else last + 1, tamper,
            f"the chain ends at record #{last} but the store's head says #{head_seq} "
            f"({head_hash[:12]}…): records were removed or the last one edited"))
    return ChainReport(len(records), good, last, None)
