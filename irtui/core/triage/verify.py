"""Re-checking collected evidence: every file against the manifest and against its copy in
the sealed tar.gz, the tar.gz against its SHA-256, and the manifest's and tar's hashes against
the ones the incident record holds (:mod:`.recorded`), naming exactly which files changed,
went missing or were added. The verdict is INTACT only when all of it matched; a manifest the
record could not vouch for (no record, or a record that fails its own hash chain) is UNKNOWN,
never INTACT. A tar.gz whose ``.sha256`` side file is missing (copied alone, renamed) is
INTACT when the incident record vouches for the tar's hash, UNKNOWN otherwise."""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import IO, Any

from irtui.core.errors import InvalidTargetError
from irtui.core.triage.evidence import (
    MANIFEST,
    MANIFEST_FORMAT,
    MAX_SEALED_DOC,
    TAR,
    TAR_SUM,
    collection_files,
    file_sha256,
    open_regular,
    read_sealed,
)
from irtui.core.triage.recorded import (
    CollectionRecords,
    RecordCheck,
    RecordState,
    check_against_record,
)

_CHUNK = 1024 * 1024


class Verdict(Enum):
    """What :func:`verify` can say about a collection."""

    INTACT = "INTACT"
    """Every file matches the manifest and the sealed tar, and the manifest and tar are the
    ones the incident record holds."""
    ALTERED = "ALTERED OR DAMAGED"
    """Something differs (named in the report)."""
    UNKNOWN = "UNKNOWN"
    """Nothing was found wrong, but the manifest could not be checked against the incident
    record (no record, it does not know this collection, or its row fails the record's hash
    chain), or the tar's hash could be checked against nothing: it may have been
    rewritten."""


class TarMismatch(Enum):
    """How a file of the folder disagrees with the sealed tar.gz."""

    DIFFERS = "differs from its copy in"
    NOT_IN_TAR = "is not in"
    ONLY_IN_TAR = "is only in"


@dataclass(frozen=True)
class TarDifference:
    """A file of the folder (or the manifest) that disagrees with the sealed tar.gz."""

    file: str
    how: TarMismatch

    def text(self) -> str:
        """``artifacts/01-x.out differs from its copy in evidence.tar.gz``."""
        return f"{self.file} {self.how.value} {TAR}"


@dataclass
class VerifyReport:
    """What :func:`verify` found.

    Attributes:
        path: what was checked (a collection folder or its tar.gz).
        status: the manifest's ``complete``/``incomplete`` (``unsealed`` with no manifest).
        reason: why it is incomplete, if it is.
        checked: how many files were hashed against the manifest.
        changed: files whose SHA-256 or size differ (relative paths).
        missing: files in the manifest that are gone.
        added: files present but not in the manifest.
        problems: anything else (no manifest, unreadable manifest, tar hash mismatch).
        sum_missing: the problem "the tar's ``.sha256`` is missing" when it is one of
            :attr:`problems`: it leaves the tar unproven (UNKNOWN) but shows nothing wrong.
        notes: remarks that are not problems (a missing ``.sha256`` made up for by the
            incident record, which holds the tar's hash).
        tar_differences: files of the folder (the manifest too) that disagree with the
            sealed tar.gz.
        manifest_sha256: the manifest's own SHA-256.
        tar_sha256: the tar.gz's SHA-256 when one was checked.
        record: how the manifest's and tar's hashes compare with the incident record.
    """

    path: Path
    status: str = "unsealed"
    reason: str = ""
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sum_missing: str = ""
    notes: list[str] = field(default_factory=list)
    tar_differences: list[TarDifference] = field(default_factory=list)
    manifest_sha256: str = ""
    tar_sha256: str = ""
    record: RecordCheck = field(default_factory=lambda: RecordCheck(RecordState.NOT_CHECKED))

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong: every hash matched, nothing is missing, added
        or different from the sealed tar, and the record (when one was read) did not
        differ. Not a proof on its own: :attr:`verdict` is INTACT only when the incident
        record vouched for the manifest too. A missing ``.sha256`` is not wrong in itself
        (:attr:`sum_missing`)."""
        problems = [p for p in self.problems if p != self.sum_missing]
        return not (self.changed or self.missing or self.added or problems
                    or self.tar_differences or self.record.state is RecordState.DIFFERS)

    @property
    def tar_vouched(self) -> bool:
        """The incident record (trusted) holds this tar's SHA-256."""
        recorded = self.record.recorded
        return (self.record.state is RecordState.MATCHES and recorded is not None
                and bool(self.tar_sha256) and recorded.tar_sha256 == self.tar_sha256)

    @property
    def verdict(self) -> Verdict:
        """ALTERED when anything differs; INTACT when nothing does and the incident record
        holds this manifest (and tar), its ``.sha256`` checked or made up for by the record;
        otherwise UNKNOWN."""
        if not self.ok:
            return Verdict.ALTERED
        unproven = bool(self.sum_missing) and self.sum_missing in self.problems
        return (Verdict.INTACT if self.record.state is RecordState.MATCHES and not unproven
                else Verdict.UNKNOWN)

    def settle_sum(self) -> None:
        """Once the record was compared: a missing ``.sha256`` whose tar the record vouches
        for is a note, not a problem."""
        if self.sum_missing in self.problems and self.tar_vouched:
            self.problems.remove(self.sum_missing)
            name = self.sum_missing.split(" ", 1)[0]
            self.notes.append(f"{name} is missing; the tar's hash was checked against the "
                              "incident record instead")

    def findings(self) -> list[str]:
        """The problems, the disagreements with the tar.gz and, unless the record matched,
        what it said, as text (the JSON output's ``problems``)."""
        out = [*self.problems, *(d.text() for d in self.tar_differences)]
        if self.manifest_sha256 and self.record.state is not RecordState.MATCHES:
            out += self.record.findings()
        return out

    def lines(self) -> list[str]:
        """A human report, one finding per line (the first line is the verdict)."""
        verdict = self.verdict
        state = self.status + (f" ({self.reason})" if self.reason else "")
        out = [f"{self.path}: {verdict.value} — {self.checked} file(s) checked; "
               f"collection {state}"]
        if verdict is Verdict.UNKNOWN and self.record.state is RecordState.UNTRUSTED:
            out[0] += ("; nothing found wrong in it, but the incident record itself is "
                       "TAMPERED: not proven unaltered")
        elif verdict is Verdict.UNKNOWN:
            out[0] += "; nothing found wrong, but not proven unaltered"
        out += [f"  changed: {p}" for p in self.changed]
        out += [f"  missing: {p}" for p in self.missing]
        out += [f"  added:   {p}" for p in self.added]
        out += [f"  {'unknown:' if p == self.sum_missing else 'problem:'} {p}"
                for p in self.problems]
        out += [f"  note:    {n}" for n in self.notes]
        out += [f"  altered: {d.text()}" for d in self.tar_differences]
        if self.manifest_sha256:
            out += [f"  {line}" for line in self.record.lines()]
            out.append(f"  manifest sha256 {self.manifest_sha256}")
        if self.tar_sha256:
            out.append(f"  {TAR} sha256 {self.tar_sha256}")
        return out


def _entries(doc: Any, report: VerifyReport) -> dict[str, tuple[str, int]]:
    """``{path: (sha256, bytes)}`` from a parsed manifest; malformed entries are problems."""
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        report.problems.append(f"{MANIFEST} is not an irtui evidence manifest")
        return {}
    report.status = str(doc.get("status", "unknown"))
    report.reason = str(doc.get("reason", ""))
    out: dict[str, tuple[str, int]] = {}
    for entry in doc.get("files", []):
        try:
            rel, sha, size = entry["path"], entry["sha256"], int(entry["bytes"])
        except (TypeError, KeyError, ValueError):
            report.problems.append(f"{MANIFEST} has a malformed entry: {entry!r:.80}")
            continue
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts:
            report.problems.append(f"{MANIFEST} names a path outside the folder: {rel!r:.80}")
            continue
        out[rel] = (sha, size)
    return out


def _compare(report: VerifyReport, expected: dict[str, tuple[str, int]],
             found: dict[str, tuple[str, int]]) -> None:
    for rel, want in sorted(expected.items()):
        got = found.get(rel)
        if got is None:
            report.missing.append(rel)
        else:
            report.checked += 1
            if got != want:
                report.changed.append(rel)
    report.added += sorted(set(found) - set(expected))


class _HashingReader:
    """A binary file read through, hashing every byte read (the tar.gz is hashed in the
    same pass that reads its members)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        """Read and hash up to ``size`` bytes."""
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def drain(self) -> str:
        """Read and hash what is left; returns the hex SHA-256 of the whole file."""
        while self.read(_CHUNK):
            pass
        return self.digest.hexdigest()


def _member_name(name: str) -> str:
    """A member's path inside the collection (members are ``<folder name>/<path>``)."""
    return name.split("/", 1)[1] if "/" in name else name


def _stream_digest(handle: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _tar_members(tar: tarfile.TarFile) -> dict[str, tuple[str, int]]:
    """``{path: (sha256, bytes)}`` of every member, each streamed in 1 MiB chunks (never
    held whole in memory); a member that is not a regular file is ``("not a file", -1)``."""
    out: dict[str, tuple[str, int]] = {}
    for member in tar:
        handle = tar.extractfile(member) if member.isfile() else None
        rel = _member_name(member.name)
        if handle is None:
            out[rel] = ("not a file", -1)
            continue
        with handle:
            out[rel] = _stream_digest(handle)
    return out


def _read_sum(report: VerifyReport, tar: Path, sum_file: Path) -> None:
    """Compare ``report.tar_sha256`` (already computed) with ``sum_file``."""
    try:
        recorded = read_sealed(sum_file).decode("ascii", errors="replace").split()
    except FileNotFoundError:  # unproven, not wrong: see VerifyReport.settle_sum
        report.sum_missing = f"{sum_file.name} is missing: the tar's hash cannot be checked"
        report.problems.append(report.sum_missing)
        return
    except OSError as exc:
        report.problems.append(f"cannot read {sum_file.name} ({exc.strerror or exc}): the "
                               "tar's hash cannot be checked")
        return
    if not recorded or recorded[0] != report.tar_sha256:
        report.problems.append(f"{tar.name} does not match {sum_file.name} (changed)")


def _check_tar(report: VerifyReport, folder: Path,
               loose: dict[str, tuple[str, int]]) -> None:
    """Hash the tar.gz and every member in one streaming pass; check the tar against its
    ``.sha256`` and each loose file (and the manifest) against its copy in the tar."""
    tar_path = folder / TAR
    try:
        with open_regular(tar_path) as raw:
            reader = _HashingReader(raw)
            try:
                with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
                    members = _tar_members(tar)
            except (tarfile.TarError, EOFError, ValueError, OSError) as exc:
                members = None
                report.problems.append(f"cannot read {TAR} as tar.gz ({exc})")
            report.tar_sha256 = reader.drain()
    except OSError as exc:
        report.problems.append(f"cannot read {TAR} ({exc.strerror or exc})")
        return
    _read_sum(report, tar_path, folder / TAR_SUM)
    if members is None:
        return
    here = {**loose, MANIFEST: (report.manifest_sha256, -1)}
    for rel in sorted(set(here) | set(members)):
        if rel not in members:
            report.tar_differences.append(TarDifference(rel, TarMismatch.NOT_IN_TAR))
        elif rel not in here:
            report.tar_differences.append(TarDifference(rel, TarMismatch.ONLY_IN_TAR))
        elif members[rel][0] != here[rel][0]:
            report.tar_differences.append(TarDifference(rel, TarMismatch.DIFFERS))


def _verify_folder(folder: Path, records: CollectionRecords | None) -> VerifyReport:
    report = VerifyReport(folder)
    manifest = folder / MANIFEST
    try:
        raw = read_sealed(manifest)
    except FileNotFoundError:
        report.problems.append(f"no {MANIFEST}: the collection was never sealed (irtui was "
                               "stopped while collecting)")
        return report
    except OSError as exc:
        report.problems.append(f"cannot read {MANIFEST} ({exc.strerror or exc})")
        return report
    report.manifest_sha256 = hashlib.sha256(raw).hexdigest()
    try:
        expected = _entries(json.loads(raw), report)
    except (ValueError, UnicodeDecodeError):
        report.problems.append(f"{MANIFEST} is not valid JSON (changed or damaged)")
        expected = None
    found: dict[str, tuple[str, int]] = {}
    for rel in collection_files(folder):
        path = folder / rel
        try:
            found[rel] = file_sha256(path) if not path.is_symlink() else ("symlink", -1)
        except OSError:
            found[rel] = ("unreadable", -1)
    if expected is not None:
        _compare(report, expected, found)
    if (folder / TAR).exists() or (folder / TAR_SUM).exists():
        _check_tar(report, folder, found)
    else:
        report.problems.append(f"{TAR} is missing")
    report.record = check_against_record(records, folder, is_tar=False,
                                         manifest_sha256=report.manifest_sha256,
                                         tar_sha256=report.tar_sha256)
    report.settle_sum()
    return report


def _verify_tar(path: Path, records: CollectionRecords | None) -> VerifyReport:
    report = VerifyReport(path)
    try:
        report.tar_sha256, _ = file_sha256(path)
    except OSError as exc:
        report.problems.append(f"cannot read {path.name} ({exc.strerror or exc})")
        return report
    _read_sum(report, path, path.with_name(path.name + ".sha256"))
    expected: dict[str, tuple[str, int]] = {}
    found: dict[str, tuple[str, int]] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                rel = _member_name(member.name)
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    found[rel] = ("not a file", -1)
                    continue
                if rel == MANIFEST and not expected:
                    if member.size > MAX_SEALED_DOC:
                        raise ValueError(f"its {MANIFEST} is over {MAX_SEALED_DOC:,} bytes")
                    raw = handle.read()
                    report.manifest_sha256 = hashlib.sha256(raw).hexdigest()
                    expected = _entries(json.loads(raw), report)
                    continue
                found[rel] = _stream_digest(handle)
    except (OSError, tarfile.TarError, EOFError, ValueError) as exc:
        report.problems.append(f"cannot read {path.name} as tar.gz ({exc})")
        return report
    if not report.manifest_sha256:
        report.problems.append(f"no {MANIFEST} inside {path.name}")
        return report
    _compare(report, expected, found)
    report.record = check_against_record(records, path, is_tar=True,
                                         manifest_sha256=report.manifest_sha256,
                                         tar_sha256=report.tar_sha256)
    report.settle_sum()
    return report


def verify(path: Path | str, records: CollectionRecords | None = None) -> VerifyReport:
    """Re-check a collection: every file against ``manifest.json`` (SHA-256 and size) and
    against its copy in the sealed tar.gz, every file present but not listed, the tar.gz
    against its ``.sha256``, and the manifest's and tar's SHA-256 against the ones the
    incident record holds for this collection.

    Args:
        path: a collection folder (``.../<stamp>-<n>``), its ``manifest.json``, or its
            ``evidence.tar.gz`` (checked member by member, without unpacking).
        records: the collections the incident record holds
            (:func:`irtui.core.triage.recorded.read_record`); None: not compared with the
            record (the verdict can then be ALTERED or UNKNOWN, never INTACT).

    Returns:
        A :class:`VerifyReport`; ``report.verdict`` is INTACT only when everything matched,
        the record included; ``report.ok`` when nothing was found wrong.

    Raises:
        InvalidTargetError: ``path`` does not exist or is not a collection folder or tar.gz
            (the CLI's exit code 2; 1 means the evidence was altered or is unknown).
    """
    p = Path(path).expanduser()
    if p.name == MANIFEST and p.is_file():
        p = p.parent
    if p.is_dir():
        if not (p / MANIFEST).exists() and not (p / "artifacts").is_dir():
            raise InvalidTargetError(f"{p} is not an evidence collection folder (no {MANIFEST})",
                                "give a folder made by irtui collect (see irtui evidence "
                                "list)")
        return _verify_folder(p, records)
    if p.is_file() and p.name.endswith(".tar.gz"):
        return _verify_tar(p, records)
    raise InvalidTargetError(f"{p} does not exist or is not a collection folder or tar.gz",
                        "give a path shown by irtui evidence list")
