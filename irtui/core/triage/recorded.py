"""What the incident record says about evidence collections, and whether a collection on
disk is the one it recorded.

When a collection is sealed, the SHA-256 of its ``manifest.json`` and of its
``evidence.tar.gz`` go into the incident record (an ``evidence`` record, see
:mod:`.host_collection`; ``irtui audit verify`` checks the record's hash chain). The record is
the authority: a collection folder could hold its own copy of these hashes, but whoever can
edit the folder can edit that copy too. :func:`read_record` reads the recorded collections
from a record file, :func:`check_against_record` compares one collection with them.

The record is only an authority where its hash chain holds: whoever can edit the evidence may
edit the record's row too. So the chain is verified (:func:`~irtui.core.record.chain.
verify_chain`, as ``irtui audit verify`` does) when the record is read, and a collection whose
row is at or after the first bad record is :attr:`RecordState.UNTRUSTED`: it proves nothing
either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from irtui.core.errors import AuditError
from irtui.core.record.chain import ChainProblem, StoredRecord, verify_chain
from irtui.core.record.store import Record, RecordStore, SQLiteStore
from irtui.core.triage.evidence import MANIFEST, TAR

RECORD_FIX = ("run irtui evidence verify where the incident record of this collection is, "
              "or give that record's config with --config PATH (its record.path)")
TAMPERED_FIX = ("irtui audit verify (with the same --config) tells more about the record; "
                "keep a copy of the record file as evidence")


class RecordState(Enum):
    """How a collection compares with the incident record."""

    MATCHES = "matches"
    """The record holds this collection, and its hashes are the ones recorded."""
    DIFFERS = "differs"
    """The record holds this collection with other hashes: it was altered."""
    UNTRUSTED = "untrusted"
    """The record holds this collection, but in a row at or after the first record that
    fails the hash chain (edited, inserted...): it proves nothing either way."""
    NOT_FOUND = "not found"
    """The record was read and holds no collection at this place or with these hashes."""
    UNREADABLE = "unreadable"
    """There is no record where it was looked for, or it cannot be read."""
    NOT_CHECKED = "not checked"
    """No record was given to compare with."""


@dataclass(frozen=True)
class RecordedCollection:
    """One sealed collection as the incident record has it.

    Attributes:
        path: the collection folder when it was sealed; tar: its tar.gz.
        manifest_sha256 / tar_sha256: the hashes recorded at sealing.
        host / incident: whose evidence, filed under which incident.
        seq: the record's number in the chain (None: not from a stored record).
    """

    path: str
    tar: str
    manifest_sha256: str
    tar_sha256: str
    host: str = ""
    incident: str = ""
    seq: int | None = None

    def where(self) -> str:
        """``record #57 of INC-2026-0001, host1``, for messages."""
        number = f"record #{self.seq}" if self.seq is not None else "the record"
        return ", ".join(p for p in (number + (f" of {self.incident}" if self.incident
                                               else ""), self.host) if p)


@dataclass(frozen=True)
class CollectionRecords:
    """The collections an incident record knows, or why it could not be read.

    Attributes:
        location: the record (a path, for messages).
        collections: every sealed collection it holds, oldest first.
        problem / fix: why it could not be read and what to do (empty when it was read).
        broken: the first record that fails the hash chain (None: the chain verifies);
            collections recorded at or after its ``seq`` cannot be trusted.
    """

    location: str
    collections: tuple[RecordedCollection, ...] = ()
    problem: str = ""
    fix: str = ""
    broken: ChainProblem | None = None

    def trusted(self, recorded: RecordedCollection) -> bool:
        """True when the chain verifies up to and including ``recorded``'s row."""
        return (self.broken is None or recorded.seq is None
                or recorded.seq < self.broken.seq)

    def tampered(self) -> str:
        """``the incident record X is TAMPERED at record #57: <what>`` (empty when not)."""
        if self.broken is None:
            return ""
        return (f"the incident record {self.location} is TAMPERED at record "
                f"#{self.broken.seq}: {self.broken.message}")


@dataclass(frozen=True)
class HashDifference:
    """A file whose SHA-256 differs from the one recorded at sealing (``found`` now)."""

    file: str
    found: str
    recorded: str


@dataclass(frozen=True)
class RecordCheck:
    """The outcome of comparing one collection with the incident record.

    Attributes:
        state: see :class:`RecordState`.
        location: the record that was read (or looked for).
        recorded: the collection of the record it was compared with, if any.
        differences: with ``DIFFERS``, each file (manifest, tar.gz) whose hash is not the
            recorded one.
        moved: the record has it at another place (found by its folder's incident, host
            and name, or by its hashes): a copy or a move.
        problem / fix: with ``UNTRUSTED``/``UNREADABLE``/``NOT_FOUND``/``NOT_CHECKED``, why
            the manifest could not be checked and what to do.
    """

    state: RecordState
    location: str = ""
    recorded: RecordedCollection | None = None
    differences: tuple[HashDifference, ...] = ()
    moved: bool = False
    problem: str = ""
    fix: str = ""

    def findings(self) -> list[str]:
        """What the comparison found, one sentence each (no prefix)."""
        where = f"{self.recorded.where()}; {self.location}" if self.recorded else ""
        if self.state is RecordState.MATCHES:
            moved = "; it was recorded at " + self.recorded.path if (
                self.moved and self.recorded) else ""
            return [f"{MANIFEST} and {TAR} match the incident record ({where}){moved}"]
        if self.state is RecordState.DIFFERS:
            return [f"{d.file} sha256 {d.found} is not the {d.recorded} recorded when it "
                    f"was sealed ({where})" for d in self.differences]
        if self.state is RecordState.UNTRUSTED:
            text = (f"the incident record cannot vouch for {MANIFEST} and {TAR}: "
                    f"{self.problem}")
        else:
            text = f"{MANIFEST} could not be checked against the incident record: {self.problem}"
        return [f"{text} — {self.fix}" if self.fix else text]

    def lines(self) -> list[str]:
        """One line per finding, for the report under the verdict: ``record:``,
        ``altered:`` or ``unknown:`` by :attr:`state`."""
        label = {RecordState.MATCHES: "record: ",
                 RecordState.DIFFERS: "altered:"}.get(self.state, "unknown:")
        return [f"{label} {text}" for text in self.findings()]


def _collection(record: Record) -> RecordedCollection | None:
    """The sealed collection an ``evidence`` record (or an imported ``legacy`` one of an
    earlier irtui's trail) describes; None for any other record."""
    body: Any = record.body
    if record.kind == "legacy":
        if body.get("event") != "evidence" or not isinstance(body.get("original"), dict):
            return None
        body = body["original"]
    manifest = body.get("manifest_sha256")
    if not isinstance(manifest, str) or not manifest:
        return None  # a single piece of evidence (name, sha256), not a collection
    return RecordedCollection(
        path=str(body.get("path") or ""), tar=str(body.get("tar") or ""),
        manifest_sha256=manifest, tar_sha256=str(body.get("tar_sha256") or ""),
        host=str(body.get("host") or ""), incident=record.incident, seq=record.seq)


def _parsed(stored: StoredRecord) -> Record | None:
    """``stored`` as a :class:`Record`; None when its body is not a JSON object (the chain
    check names it)."""
    try:
        return Record(stored.seq, stored.hash, stored.fields())
    except ValueError:
        return None


def collections_in(store: RecordStore) -> CollectionRecords:
    """Every sealed collection ``store`` holds (its ``evidence`` records), and the first
    record that fails its hash chain (each row's hash against its canonical body, each link
    to the row before, the store's head), the way ``irtui audit verify`` checks it; a store
    that cannot be read gives its problem and fix instead (never raises)."""
    try:
        raw, head = store.raw()
    except AuditError as exc:
        return CollectionRecords(store.location, problem=exc.problem, fix=exc.fix or RECORD_FIX)
    report = verify_chain(raw, head)
    found = (_collection(r) for r in map(_parsed, raw)
             if r is not None and r.kind in ("evidence", "legacy"))
    return CollectionRecords(store.location, tuple(c for c in found if c is not None),
                             broken=report.problem)


def read_record(path: Path) -> CollectionRecords:
    """The sealed collections of the incident record at ``path`` (a SQLite file); a missing
    or unreadable record gives its problem and fix (never created, never raises)."""
    path = Path(path).expanduser()
    if not path.is_file():
        return CollectionRecords(str(path), problem=f"there is no incident record at {path} "
                                 "(the evidence was copied from another machine, or the "
                                 "record is elsewhere)", fix=RECORD_FIX)
    store = SQLiteStore(path)
    try:
        return collections_in(store)
    finally:
        store.close()


def _same_path(recorded: str, target: Path) -> bool:
    if not recorded:
        return False
    try:
        return Path(recorded).expanduser().resolve() == target.resolve()
    except (OSError, RuntimeError):
        return False


def _same_name(recorded: str, folder: Path) -> bool:
    """The recorded folder and ``folder`` have the same incident, host and collection name
    (``<incident>/<host>/<stamp>-<n>``): the same collection, moved or copied."""
    parts = Path(recorded).parts[-3:]
    return len(parts) == 3 and parts == folder.resolve().parts[-3:]


def _differences(recorded: RecordedCollection, manifest_sha256: str,
                 tar_sha256: str) -> tuple[HashDifference, ...]:
    found = []
    if manifest_sha256 != recorded.manifest_sha256:
        found.append(HashDifference(MANIFEST, manifest_sha256, recorded.manifest_sha256))
    if tar_sha256 and recorded.tar_sha256 and tar_sha256 != recorded.tar_sha256:
        found.append(HashDifference(TAR, tar_sha256, recorded.tar_sha256))
    return tuple(found)


def _compare(records: CollectionRecords, candidates: Iterable[RecordedCollection],
             manifest_sha256: str, tar_sha256: str, moved: bool) -> RecordCheck | None:
    """MATCHES with the first candidate whose hashes are the ones found, else DIFFERS with
    the newest; None without candidates."""
    newest: RecordedCollection | None = None
    for recorded in candidates:
        if not _differences(recorded, manifest_sha256, tar_sha256):
            return RecordCheck(RecordState.MATCHES, records.location, recorded, moved=moved)
        newest = recorded
    if newest is None:
        return None
    return RecordCheck(RecordState.DIFFERS, records.location, newest,
                       _differences(newest, manifest_sha256, tar_sha256), moved=moved)


def _lookup(records: CollectionRecords, known: list[RecordedCollection], target: Path,
            is_tar: bool, manifest_sha256: str, tar_sha256: str) -> RecordCheck | None:
    """The collection of ``known`` this one is, compared with it (None: none of them)."""
    here = [c for c in known if _same_path(c.tar if is_tar else c.path, target)]
    found = _compare(records, reversed(here), manifest_sha256, tar_sha256, moved=False)
    if found is None and not is_tar:
        named = [c for c in known if _same_name(c.path, target)]
        found = _compare(records, reversed(named), manifest_sha256, tar_sha256, moved=True)
    if found is None:
        same = [c for c in known if c.manifest_sha256 == manifest_sha256
                and (not tar_sha256 or c.tar_sha256 == tar_sha256)]
        if same:
            return RecordCheck(RecordState.MATCHES, records.location, same[-1], moved=True)
    return found


def check_against_record(records: CollectionRecords | None, target: Path, *, is_tar: bool,
                         manifest_sha256: str, tar_sha256: str) -> RecordCheck:
    """Compare one collection with what the incident record holds.

    The record's collection is found by place first (the folder, or the tar.gz, where it
    was sealed), then by its folder's incident, host and name (moved or copied with its
    folders), then by its hashes (a copy elsewhere that is byte for byte the recorded one).
    Only rows before the first record that fails the hash chain count; a collection found
    only at or after it is ``UNTRUSTED`` (the record proves nothing either way).

    Args:
        records: what the record holds (None: no record was given).
        target: the collection folder, or its tar.gz when ``is_tar``.
        manifest_sha256: the hash of its manifest now; tar_sha256: of its tar.gz now (empty
            when there is none).

    Returns:
        A :class:`RecordCheck`: ``DIFFERS`` names the manifest and/or tar.gz with the hash
        found and the one recorded; ``UNTRUSTED`` names the first bad record.
    """
    if records is None:
        return RecordCheck(RecordState.NOT_CHECKED, problem="no incident record was given",
                           fix=RECORD_FIX)
    if records.problem:
        return RecordCheck(RecordState.UNREADABLE, records.location, problem=records.problem,
                           fix=records.fix)
    hashes = (manifest_sha256, tar_sha256)
    trusted = [c for c in records.collections if records.trusted(c)]
    found = _lookup(records, trusted, target, is_tar, *hashes)
    if found is not None:
        return found
    untrusted = [c for c in records.collections if not records.trusted(c)]
    suspect = _lookup(records, untrusted, target, is_tar, *hashes)
    if suspect is not None and suspect.recorded is not None:
        return RecordCheck(RecordState.UNTRUSTED, records.location, suspect.recorded,
                           moved=suspect.moved,
                           problem=f"{records.tampered()}; {suspect.recorded.where()}, which "
                           "holds this collection, is at or after it and cannot be trusted",
                           fix=TAMPERED_FIX)
    broken = f" ({records.tampered()})" if records.broken else ""
    return RecordCheck(RecordState.NOT_FOUND, records.location,
                       problem=f"the incident record {records.location} holds no "
                       f"collection at {target} nor one with its hashes{broken}",
                       fix=TAMPERED_FIX if records.broken else RECORD_FIX)
