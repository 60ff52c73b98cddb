"""The JSON Lines trails earlier irtui versions wrote (``<audit dir>/<session>.jsonl`` with its
transcript ``<session>.log``, see :mod:`irtui.core.audit`), brought into the record.

Nothing is dropped silently: each line becomes a ``legacy`` record carrying the original
object, its line number and file; a line that is not JSON (a half-written last line after a
crash, non-UTF-8 bytes) becomes a ``legacy`` record of event ``unreadable`` with its text and
the SHA-256 of its raw bytes. The transcript is kept as an artifact. A trail already imported
(same file SHA-256) is skipped and reported as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from irtui.core.errors import AuditError
from irtui.core.record.chain import digest
from irtui.core.record.register import IncidentRegister


@dataclass
class ImportReport:
    """What :func:`import_trails` did: trails imported (path → records written), trails
    skipped as already imported, and lines that were not JSON (path → line numbers)."""

    imported: dict[str, int] = field(default_factory=dict)
    already: list[str] = field(default_factory=list)
    unreadable: dict[str, list[int]] = field(default_factory=dict)


def find_trails(directory: Path) -> list[Path]:
    """The ``*.jsonl`` session trails in ``directory`` (none if it does not exist)."""
    try:
        return sorted(p for p in directory.glob("*.jsonl") if p.is_file())
    except OSError:
        return []


def imported_digests(register: IncidentRegister) -> set[str]:
    """SHA-256 of every trail file already imported into the record."""
    return {str(r.get("sha256")) for r in register.store.records(kinds=["legacy.session"])}


def pending_trails(register: IncidentRegister, directory: Path) -> list[Path]:
    """Trails in ``directory`` not yet imported (for ``audit verify`` to mention)."""
    done = imported_digests(register)
    out = []
    for path in find_trails(directory):
        try:
            if digest(path.read_bytes()) not in done:
                out.append(path)
        except OSError:
            out.append(path)
    return out


def _line_fields(raw: bytes, number: int, source: str) -> dict:
    try:
        value = json.loads(raw.decode("utf-8"))
        if not isinstance(value, dict):
            raise ValueError("not an object")
    except ValueError:
        return {"event": "unreadable", "line": number, "source": source,
                "text": raw.decode("utf-8", "replace"), "raw_sha256": digest(raw)}
    return {"event": str(value.get("event", "")), "line": number, "source": source,
            "original_ts": value.get("ts"), "summary": value.get("summary", ""),
            "ok": value.get("ok"), "original": value}


def import_trails(register: IncidentRegister, directory: Path, incident: str) -> ImportReport:
    """Import every not-yet-imported trail of ``directory`` into ``incident``.

    Args:
        register: the record to write to.
        directory: the audit directory holding ``*.jsonl`` (and ``*.log``) files.
        incident: the incident the imported records belong to.

    Returns:
        An :class:`ImportReport`.

    Raises:
        AuditError: a trail cannot be read, or the record cannot be written.
    """
    report = ImportReport()
    done = imported_digests(register)
    for path in find_trails(directory):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AuditError(f"cannot read the trail {path} ({exc.strerror})",
                             "check its permissions; nothing was imported from it") from None
        sha = digest(data)
        if sha in done:
            report.already.append(str(path))
            continue
        transcript = path.with_suffix(".log")
        log_ref = None
        if transcript.is_file():
            log_ref = register.store.put_artifact(transcript.read_bytes()).as_field()
        lines = data.splitlines()
        register.append("legacy.session", incident, session=path.stem, source=str(path),
                        sha256=sha, bytes=len(data), lines=len(lines), transcript=log_ref)
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            fields = _line_fields(raw, number, str(path))
            if fields["event"] == "unreadable":
                report.unreadable.setdefault(str(path), []).append(number)
            register.append("legacy", incident, **fields)
        report.imported[str(path)] = len(lines)
        done.add(sha)
    return report
