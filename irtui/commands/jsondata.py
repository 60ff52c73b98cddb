"""The verb-specific ``data`` of the ``--json`` envelope (see :mod:`irtui.commands.jsonout`),
built from the core's typed objects: notifications, secrets, evidence, the incident record,
drift, the lab and the drill. Each function's shape is a ``$defs`` entry of
``irtui/schema/irtui-cli.schema.json``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irtui.core.actions.record import Verification
    from irtui.core.config_hosts import HostImport
    from irtui.core.notify.dispatch import Preview
    from irtui.core.notify.result import ChannelResult
    from irtui.core.record.drift import HostDrift, IntendedBlock
    from irtui.core.record.incidents import Incident
    from irtui.core.record.legacy import ImportReport
    from irtui.core.record.timeline import Action
    from irtui.core.secret_backend import KeyringStatus
    from irtui.core.triage.verify import VerifyReport
    from irtui.lab.drill import DrillResult
    from irtui.lab.sinks import InboxItem
    from irtui.lab.status import LabStatus

Json = dict[str, Any]


def host_import(plan: HostImport, written: bool) -> Json:
    """``hosts import``: the ``[[hosts]]`` tables added, the hosts skipped and why."""
    return {"path": str(plan.path), "written": written,
            "added": [dict(t) for t in plan.added],
            "skipped": [{"host": name, "reason": why} for name, why in plan.skipped]}


def channel(result: ChannelResult) -> Json:
    """One notification channel's result (``delivery``: sent, failed, not configured)."""
    return {"channel": result.channel, "kind": result.kind, "delivery": result.delivery.value,
            "ok": result.ok, "detail": result.detail, "fix": result.fix,
            "seconds": round(result.seconds, 3), "secret": result.secret or None}


def preview(item: Preview) -> Json:
    """What one channel would send (never a secret) and why it could not, if so."""
    return {"channel": item.channel, "kind": item.kind, "text": item.text,
            "problem": channel(item.problem) if item.problem is not None else None}


def keyring(status: KeyringStatus) -> Json:
    """The keyring irtui uses and whether secrets can be used now."""
    return {"backend": status.backend, "state": status.state.value, "ready": status.ready,
            "problem": status.problem, "fix": status.fix}


def evidence_check(report: VerifyReport) -> Json:
    """``evidence verify``: every file re-hashed against the manifest and the sealed tar, the
    manifest against the incident record; ``intact`` only when the verdict is INTACT, and
    ``problems`` also names what differs from the tar or the record, or why the record
    could not vouch for the manifest."""
    from irtui.core.triage.verify import Verdict

    return {"path": str(report.path), "intact": report.verdict is Verdict.INTACT,
            "status": report.status, "reason": report.reason, "checked": report.checked,
            "changed": report.changed, "missing": report.missing, "added": report.added,
            "problems": report.findings(),
            "manifest_sha256": report.manifest_sha256 or None,
            "tar_sha256": report.tar_sha256 or None}


def incident(item: Incident, current: str | None = None) -> Json:
    """An incident as its records say (status is a NIST SP 800-61 phase)."""
    return {"id": item.id, "title": item.title, "severity": item.severity,
            "status": item.status.value, "current": item.id == current,
            "opened_at": item.opened_at, "opened_by": item.opened_by,
            "detected_at": item.detected_at, "closed_at": item.closed_at,
            "analysts": list(item.analysts), "records": item.records,
            "notes": [{"ts": n.ts, "analyst": n.analyst, "text": n.text} for n in item.notes],
            "history": [{"ts": ts, "analyst": who, "from": old, "to": new, "note": note}
                        for ts, who, old, new, note in item.history]}


def action(item: Action) -> Json:
    """One action of an incident's timeline, with each host's outcome."""
    return {"id": item.id, "kind": item.kind, "action": item.action, "summary": item.summary,
            "ts": item.ts, "end": item.end, "analyst": item.analyst, "reason": item.reason,
            "outcome": item.outcome, "hosts": list(item.hosts),
            "results": [{"host": r.host, "outcome": r.outcome, "ok": r.ok,
                         "message": r.message, "duration_s": r.duration_s, "ts": r.ts}
                        for r in item.results.values()]}


def record_check(check: Verification) -> Json:
    """``audit verify``: the hash chain from its first record, and the files it refers
    to."""
    return {**check.as_dict(), "incident": check.incident, "records": check.records,
            "pending": [str(p) for p in check.pending]}


def legacy_import(incident_id: str, done: ImportReport) -> Json:
    """``audit import``: trails imported (path → records), already imported, and lines
    kept as ``unreadable``."""
    return {"incident": incident_id, "imported": dict(done.imported),
            "already": list(done.already),
            "unreadable": {path: list(lines) for path, lines in done.unreadable.items()}}


def _intended(block: IntendedBlock) -> Json:
    return {"entry": block.entry, "incident": block.incident, "action_id": block.action_id,
            "placed_at": block.placed_at, "expires_at": block.expires_at,
            "ttl_known": block.ttl_known}


def drift(item: HostDrift) -> Json:
    """One host's drift: the record's intent against the live read-back (``error``: the
    host could not be read, nothing is known)."""
    # HostDrift keeps only the error's line (problem — fix), not the exception
    error = {"type": "HostUnreadable", "problem": item.error, "fix": ""} if item.error else None
    return {"host": item.host, "error": error, "drifted": item.drifted,
            "lost": [_intended(b) for b in item.lost], "unenforced": list(item.unenforced),
            "unrecorded": list(item.unrecorded),
            "expiry": [{**_intended(b), "live": note} for b, note in item.expiry],
            "isolation_lost": item.isolation_lost,
            "isolation_problem": item.isolation_problem,
            "isolation_unrecorded": item.isolation_unrecorded,
            "isolation_widened": list(item.isolation_widened),
            "uncertain": dict(item.uncertain)}


def report_files(markdown: Path, html: Path) -> Json:
    """``report``: where the report was written."""
    return {"markdown": str(markdown), "html": str(html)}


def drill(result: DrillResult) -> Json:
    """``drill``: each tested step, the report files, the figures (seconds)."""
    return {"passed": result.passed, "incident": result.incident,
            "steps": [{"step": s.step, "expected": s.expected, "actual": s.actual,
                       "passed": s.passed, "seconds": s.seconds} for s in result.steps],
            "report": [str(p) for p in result.report] if result.report else None,
            "figures": dict(result.figures)}


def lab_status(status: LabStatus) -> Json:
    """``lab status``: what of the practice lab exists."""
    spec = status.spec
    return {"up": status.up, "prefix": spec.prefix, "lab_dir": str(spec.lab_dir),
            "lab_json": status.lab_json, "namespaces": dict(status.namespaces),
            "root_link": status.root_link, "root_addresses": list(status.root_addresses),
            "sshd": dict(status.sshd), "listening": dict(status.listening),
            "notify": dict(status.notify), "extra_namespaces": list(status.extra_namespaces)}


def inbox(items: Iterable[InboxItem]) -> Json:
    """``lab inbox``: what the lab's mail and webhook sinks received."""
    return {"items": [{"kind": i.kind, "ts": i.ts, "lines": list(i.lines)} for i in items]}


def secrets_list(entries: Iterable[tuple[str, bool, str | None]]) -> Json:
    """``secrets list``: ``(name, stored, what uses it)`` per secret; names only, never
    values."""
    return {"secrets": [{"name": name, "stored": stored, "used_by": use}
                        for name, stored, use in entries]}
