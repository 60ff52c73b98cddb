"""Re-checking collected evidence: every file against the manifest, and the tar.gz against
its SHA-256, naming exactly which files changed, went missing or were added."""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from irtui.core.errors import InvalidTargetError
from irtui.core.triage.evidence import (
    MANIFEST,
    MANIFEST_FORMAT,
    MAX_SEALED_DOC,
    TAR,
    TAR_SUM,
    collection_files,
    file_sha256,
    read_sealed,
)


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
        manifest_sha256: the manifest's own SHA-256 (compare with the incident record).
        tar_sha256: the tar.gz's SHA-256 when one was checked.
    """

    path: Path
    status: str = "unsealed"
    reason: str = ""
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    manifest_sha256: str = ""
    tar_sha256: str = ""

    @property
    def ok(self) -> bool:
        """True only when every hash matched and nothing is missing, added or wrong."""
        return not (self.changed or self.missing or self.added or self.problems)

    def lines(self) -> list[str]:
        """A human report, one finding per line (the first line is the verdict)."""
        verdict = "INTACT" if self.ok else "ALTERED OR DAMAGED"
        state = self.status + (f" ({self.reason})" if self.reason else "")
        out = [f"{self.path}: {verdict} — {self.checked} file(s) checked; collection {state}"]
        out += [f"  changed: {p}" for p in self.changed]
        out += [f"  missing: {p}" for p in self.missing]
        out += [f"  added:   {p}" for p in self.added]
        out += [f"  problem: {p}" for p in self.problems]
        if self.manifest_sha256:
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


def _check_sum_file(report: VerifyReport, tar: Path, sum_file: Path) -> None:
    try:
        report.tar_sha256, _ = file_sha256(tar)
    except OSError as exc:
        report.problems.append(f"cannot read {tar.name} ({exc.strerror or exc})")
        return
    try:
        recorded = read_sealed(sum_file).decode("ascii", errors="replace").split()
    except FileNotFoundError:
        report.problems.append(f"{sum_file.name} is missing: the tar's hash cannot be checked")
        return
    except OSError as exc:
        report.problems.append(f"cannot read {sum_file.name} ({exc.strerror or exc}): the "
                               "tar's hash cannot be checked")
        return
    if not recorded or recorded[0] != report.tar_sha256:
        report.problems.append(f"{tar.name} does not match {sum_file.name} (changed)")


def _verify_folder(folder: Path) -> VerifyReport:
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
        return report
    found: dict[str, tuple[str, int]] = {}
    for rel in collection_files(folder):
        path = folder / rel
        try:
            found[rel] = file_sha256(path) if not path.is_symlink() else ("symlink", -1)
        except OSError:
            found[rel] = ("unreadable", -1)
    _compare(report, expected, found)
    if (folder / TAR).exists() or (folder / TAR_SUM).exists():
        _check_sum_file(report, folder / TAR, folder / TAR_SUM)
    else:
        report.problems.append(f"{TAR} is missing")
    return report


def _verify_tar(path: Path) -> VerifyReport:
    report = VerifyReport(path)
    _check_sum_file(report, path, path.with_name(path.name + ".sha256"))
    expected: dict[str, tuple[str, int]] = {}
    found: dict[str, tuple[str, int]] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
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
                digest = hashlib.file_digest(handle, "sha256")  # type: ignore[arg-type]
                found[rel] = (digest.hexdigest(), member.size)
    except (OSError, tarfile.TarError, EOFError, ValueError) as exc:
        report.problems.append(f"cannot read {path.name} as tar.gz ({exc})")
        return report
    if not report.manifest_sha256:
        report.problems.append(f"no {MANIFEST} inside {path.name}")
    _compare(report, expected, found)
    return report


def verify(path: Path | str) -> VerifyReport:
    """Re-check a collection: every file against ``manifest.json`` (SHA-256 and size), every
    file present but not listed, and the tar.gz against its ``.sha256``.

    Args:
        path: a collection folder (``.../<stamp>-<n>``), its ``manifest.json``, or its
            ``evidence.tar.gz`` (checked member by member, without unpacking).

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is True only when everything matched.

    Raises:
        InvalidTargetError: ``path`` does not exist or is not a collection folder or tar.gz
            (the CLI's exit code 2; 1 means the evidence was altered).
    """
    p = Path(path).expanduser()
    if p.name == MANIFEST and p.is_file():
        p = p.parent
    if p.is_dir():
        if not (p / MANIFEST).exists() and not (p / "artifacts").is_dir():
            raise InvalidTargetError(f"{p} is not an evidence collection folder (no {MANIFEST})",
                                "give a folder made by irtui collect (see irtui evidence "
                                "list)")
        return _verify_folder(p)
    if p.is_file() and p.name.endswith(".tar.gz"):
        return _verify_tar(p)
    raise InvalidTargetError(f"{p} does not exist or is not a collection folder or tar.gz",
                        "give a path shown by irtui evidence list")
