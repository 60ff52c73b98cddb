"""The incident record as a capability: verify and export the record, find drift and plan
its re-apply, write reports, import the trails of earlier versions.

The record itself (store, chain, incidents, recorder) lives in :mod:`irtui.core.record`; this
module joins it to the session (config, hosts, live state) for the fronts.
"""

from __future__ import annotations

import functools
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irtui.core.actions import block, isolate
from irtui.core.actions.context import ActionContext
from irtui.core.actions.reads import read_many
from irtui.core.durations import format_duration
from irtui.core.endpoints import join_port
from irtui.core.errors import ActionError, InvalidTargetError, IrtuiError
from irtui.core.firewall.state import HostState
from irtui.core.plan import Plan
from irtui.core.record import legacy
from irtui.core.record.chain import ChainReport, digest, verify_chain
from irtui.core.record.drift import HostDrift, HostIntent, compare, intended_state, lost_groups
from irtui.core.record.recorder import IncidentRecorder
from irtui.core.record.store import Record
from irtui.core.record.times import parse_past_time, parse_time, utc_stamp
from irtui.core.record.trail import with_parameters
from irtui.core.settings import Config


def recorder_of(ctx: ActionContext) -> IncidentRecorder:
    """The session's incident recorder.

    Raises:
        ActionError: the session writes a plain audit trail (no incident record).
    """
    if not isinstance(ctx.audit, IncidentRecorder):
        raise ActionError("this session keeps a plain audit trail, not the incident record",
                          "start irtui without a custom audit trail")
    return ctx.audit


@dataclass
class Verification:
    """The outcome of :func:`verify_record`.

    Attributes:
        chain: the whole chain's verification (see :func:`verify_chain`).
        artifacts: problems with files records refer to (missing or altered), one line each.
        incident: the incident asked about (None: the whole record); ``records`` its count.
        pending: JSONL trails of earlier versions in the audit directory not yet imported.
    """

    chain: ChainReport
    artifacts: list[str] = field(default_factory=list)
    incident: str | None = None
    records: int = 0
    pending: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain verifies and every artifact is intact."""
        return self.chain.ok and not self.artifacts

    def as_dict(self) -> dict[str, Any]:
        """For reports and ``--json``."""
        problem = self.chain.problem
        return {"ok": self.ok, "count": self.chain.count, "head": self.chain.head,
                "head_seq": self.chain.head_seq,
                "message": problem.message if problem else "; ".join(self.artifacts),
                "tamper": problem.tamper.value if problem else None,
                "bad_record": problem.seq if problem else None, "artifacts": self.artifacts}


def _artifact_refs(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    refs = [body] if "artifact" in body and "sha256" in body else []
    for key in ("stdout", "stderr", "transcript"):
        value = body.get(key)
        if isinstance(value, Mapping) and "artifact" in value:
            refs.append(value)
    return refs


def _check_artifacts(recorder: IncidentRecorder, records: Sequence[Record]) -> list[str]:
    problems = []
    for record in records:
        for ref in _artifact_refs(record.body):
            data = recorder.store.read_artifact(str(ref.get("sha256", "")))
            if data is None:
                sha = str(ref.get("sha256", ""))
                here = getattr(recorder.store, "artifacts", None)  # where this store looks
                where = (f"{here / sha[:2] / sha} (recorded as {ref['artifact']}; a copied "
                         f"record needs its {here.name} folder beside it)"
                         if isinstance(here, Path) and len(sha) == 64 else ref["artifact"])
                problems.append(f"record #{record.seq}: its file {where} is missing")
            elif digest(data) != ref.get("sha256"):
                problems.append(f"record #{record.seq}: its file {ref['artifact']} was altered")
    return problems


def verify_record(ctx: ActionContext, incident: str | None = None) -> Verification:
    """Verify the whole chain from its first record, the files the records (or only
    ``incident``'s) refer to, and list JSONL trails not yet imported.

    Raises:
        InvalidTargetError: ``incident`` is not in the record; AuditError: unreadable store.
    """
    rec = recorder_of(ctx)
    raw, head = rec.store.raw()
    result = Verification(verify_chain(raw, head))
    wanted = rec.register.get(incident).id if incident else None
    records = rec.store.records(wanted)
    result.incident, result.records = wanted, len(records)
    result.artifacts = _check_artifacts(rec, records)
    result.pending = legacy.pending_trails(rec.register, rec.directory)
    return result


def export_records(ctx: ActionContext, incident: str | None = None) -> list[dict[str, Any]]:
    """The records (all, or ``incident``'s) as JSON objects with their ``seq`` and
    ``hash`` (each verifiable: ``hash`` is the SHA-256 of the object without ``hash``,
    canonicalised as in :func:`~irtui.core.record.chain.canonical`)."""
    rec = recorder_of(ctx)
    wanted = rec.register.get(incident).id if incident else None
    return [{**r.body, "hash": r.hash} for r in rec.store.records(wanted)]


def environment(config: Config) -> dict[str, str]:
    """A summary of the config for reports: hosts, policies, where things are kept. No
    secrets (the config holds none: passwords live in the OS keyring)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        irtui_version = version("irtui")
    except PackageNotFoundError:
        irtui_version = "unknown"
    fw, iso, email = config.firewall, config.isolation, config.email
    out = {"irtui": irtui_version, "Python": platform.python_version(),
           "config": config.path or "(built in code)"}
    for host in config.hosts:
        out[f"host {host.name}"] = (f"{join_port(host.address, host.port)} as {host.user}, "
                                    f"firewall {host.firewall}, groups "
                                    f"{', '.join(host.groups) or '—'}")
    out.update({
        "default TTL": format_duration(fw.default_ttl),
        "never block": ", ".join(fw.never_block) or "—",
        "isolation allow": ", ".join(iso.allow) or "— (the session address only)",
        "isolation confirm timeout": f"{iso.confirm_timeout} s",
        "isolation canaries": ", ".join(iso.canaries) or "—",
        "email": (f"{email.host}:{email.port} ({email.security}) from {email.sender}"
                  if email.configured else "not configured"),
        "audit directory": str(config.resolved_audit_dir),
        "incident record": str(config.resolved_record_path)})
    return out


def report(ctx: ActionContext, incident: str, out_dir: Path, *, detected_at: str | None = None,
           conclusion: str = "", drill: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write the incident's report (Markdown + standalone HTML) into ``out_dir``.

    Args:
        incident: its id.
        detected_at: ISO 8601 time to measure time to contain/notify from.
        conclusion: the analyst's conclusion (default: the closing note).
        drill: the drill's sections, for a drill report.

    Returns:
        ``(markdown_path, html_path)``.

    Raises:
        InvalidTargetError: unknown incident or malformed time; AuditError: cannot write.
    """
    rec = recorder_of(ctx)
    found = rec.register.get(incident)
    detected = utc_stamp(parse_past_time(detected_at)) if detected_at else None
    check = verify_record(ctx)
    from irtui.core.record.report import ReportInput, write_report  # jinja2: only here

    inp = ReportInput(found, rec.store.records(found.id), environment(ctx.config),
                      check.as_dict(), detected, conclusion, drill, rec.analyst,
                      whole_record=rec.store.records(kinds=("plan", "host_result", "result")))
    return write_report(inp, rec.store, out_dir)


INTENT_KINDS = ("plan", "host_result")
"""The record kinds :func:`~irtui.core.record.drift.intended_state` folds."""
_intents: dict[str, tuple[int | None, dict[str, HostIntent]]] = {}
"""store location → (its last seq, the intents folded from it): a TUI refresh every few seconds
re-reads the record only when something was appended."""


def _drift_line(d: HostDrift) -> str:
    return f"{d.host}: {d.summary()}"


def drift_of(ctx: ActionContext, states: Mapping[str, HostState]) -> dict[str, HostDrift]:
    """Compare what the record means to be true with host states already read (the TUI's
    refresh), reading no host and recording nothing (``irtui drift`` records its check).

    Args:
        states: host name → its live state, as just read back.

    Returns:
        host name → its :class:`HostDrift`.

    Raises:
        AuditError: the incident record cannot be read.
    """
    rec = recorder_of(ctx)
    now = datetime.now(UTC)
    last, where = rec.store.last_seq(), rec.store.location
    cached = _intents.get(where)
    if last is not None and cached is not None and cached[0] == last:
        intents = cached[1]  # nothing appended since: blocks expired since then are not
    else:                    # judged lost by compare(), which checks expiries at `now`
        intents = intended_state(rec.store.records(kinds=INTENT_KINDS), now)
        _intents[where] = (last, intents)
    return {name: compare(intents.get(name), state, now) for name, state in states.items()}


def check_drift(ctx: ActionContext, hosts: Sequence[str] = ()) -> list[HostDrift]:
    """Compare what the record means to be true with each host's live read-back; recorded
    in the current incident when there is one.

    Args:
        hosts: host names, ``@group`` or ``all`` (default all).

    Returns:
        One :class:`HostDrift` per host; a host that cannot be read has ``error`` set
        (its state is unknown, never "no drift").

    Raises:
        UnknownHostError, InvalidTargetError.
    """
    rec = recorder_of(ctx)
    chosen = ctx.select(list(hosts) or ["all"])
    now = datetime.now(UTC)
    intents = intended_state(rec.store.records(kinds=INTENT_KINDS), now)
    drifts = []
    reads = read_many(ctx, [h.name for h in chosen])  # all at once (ssh.max_parallel)
    for host in chosen:
        try:
            got = reads[host.name]
            if isinstance(got, IrtuiError):
                raise got
            choice = got.profile.choice
            if choice.conflict:  # the backend read is not where all of irtui's state is
                intent = intents.get(host.name)
                drifts.append(HostDrift(host.name, uncertain=dict(intent.uncertain) if intent
                                        else {}, error=choice.conflict_line))
                continue
            drifts.append(compare(intents.get(host.name), got.state, now))
        except IrtuiError as exc:
            intent = intents.get(host.name)
            drifts.append(HostDrift(host.name, uncertain=dict(intent.uncertain) if intent
                                    else {}, error=exc.line))
    incident = rec.incident_id()
    if incident and incident in rec.register.all():
        rec.append("drift", incident, hosts=[d.host for d in drifts],
                   summary="; ".join(_drift_line(d) for d in drifts),
                   lost={d.host: [b.entry for b in d.lost] for d in drifts if d.lost},
                   unrecorded={d.host: d.unrecorded for d in drifts if d.unrecorded})
    return drifts


def plan_reapply(ctx: ActionContext, drifts: Sequence[HostDrift]) -> list[Plan]:
    """Plans that put back what drifted away: one block plan per group of lost entries
    sharing an expiry (TTL = the time left until the intended expiry; the default TTL when
    the record did not say), and one isolate plan for hosts whose isolation was removed.
    Each goes through the normal confirm → execute → verify. A plan that cannot be made
    (a host whose isolation reads PARTIAL must be released first; an unreachable host) is
    returned with its hosts in ``failed`` and the reason, so it fails when executed and the
    other plans still go ahead.

    Raises:
        Nothing of its own; a plan's problem is that plan's failure (see above).
    """
    plans = []
    now = datetime.now(UTC)
    for (expires, known), per_host in lost_groups(drifts).items():
        same: dict[tuple[str, ...], list[str]] = {}
        for host, entries in per_host.items():
            same.setdefault(tuple(sorted(entries)), []).append(host)
        if not known:
            ttl: int | str | None = "default"
        elif expires is None:
            ttl = None
        else:
            ttl = max(1, math.ceil((parse_time(expires) - now).total_seconds()))
        seconds = ctx.config.firewall.default_ttl if ttl == "default" else ttl
        for entries, hosts in same.items():
            plan = _or_failed("block", f"re-block {len(entries)} entries", hosts,
                              functools.partial(block.plan_block, ctx, list(entries), hosts,
                                                ttl))
            plan.notes.append("re-apply: these blocks were lost before their expiry")
            plans.append(with_parameters(ctx.audit, plan, targets=list(entries), hosts=hosts,
                                         ttl=ttl, ttl_s=seconds, reapply=True))
    lost = [d.host for d in drifts if d.isolation_lost]
    if lost:
        plan = _or_failed("isolate", f"isolate {', '.join(lost)} again", lost,
                          functools.partial(isolate.plan_isolate, ctx, lost))
        plan.notes.append("re-apply: the isolation was removed or opened outside irtui")
        plans.append(with_parameters(ctx.audit, plan, hosts=lost, reapply=True))
    return plans


def _or_failed(action: str, summary: str, hosts: list[str],
               make: Callable[[], Plan]) -> Plan:
    """``make()``, or when it raises an :class:`IrtuiError` a plan of ``action`` that changes
    nothing and fails on every one of ``hosts`` with that error's message and fix."""
    try:
        return make()
    except IrtuiError as exc:
        plan = Plan(action, f"{summary} (cannot be planned)", list(hosts))
        plan.failed = {h: exc.line for h in hosts}
        return plan


def import_legacy(ctx: ActionContext, directory: Path | None = None,
                  incident: str | None = None) -> tuple[str, legacy.ImportReport]:
    """Import the JSONL trails of earlier versions from ``directory`` (default the audit
    directory) into ``incident`` (default: a new incident for them, leaving the analyst's
    current incident as it was).

    Returns:
        ``(incident_id, report)``.

    Raises:
        InvalidTargetError: unknown incident, or ``directory`` given but not a directory;
            AuditError: unreadable trail or store.
    """
    rec = recorder_of(ctx)
    where = directory or rec.directory
    if directory is not None and not directory.is_dir():
        raise InvalidTargetError(f"{directory} is not a directory",
                                 "give the directory that holds the earlier trails "
                                 "(*.jsonl), not one file; default: audit.dir")
    if incident:
        target = rec.register.get(incident).id
    elif not legacy.pending_trails(rec.register, where):
        return "", legacy.ImportReport(already=[str(p) for p in legacy.find_trails(where)])
    else:
        current = rec.register.current_id()
        target = rec.register.open(f"audit trails of earlier irtui sessions in {where}",
                                   "unassessed").id
        rec.register.store.set_setting(rec.register.current_key, current)
    return target, legacy.import_trails(rec.register, where, target)
