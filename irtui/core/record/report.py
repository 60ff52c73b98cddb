"""Incident reports: Markdown and a standalone HTML file, rendered with Jinja2 from templates
shipped in ``irtui/core/record/templates/``.

Everything in a report comes from the incident's records (and the chain's verification), so a
report can be re-rendered later and says the same. Screenshots are SVG artifacts
(``artifact`` records with ``role: screenshot``): the HTML embeds them as data URIs (one file,
no external references), the Markdown links copies written beside it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from irtui.core.errors import AuditError
from irtui.core.record.chain import digest
from irtui.core.record.incidents import Incident
from irtui.core.record.metrics import Metrics, compute
from irtui.core.record.stops import Stop, stops_of
from irtui.core.record.store import Record, RecordStore
from irtui.core.record.timeline import Action, actions_of
from irtui.core.record.times import seconds_between, utc_stamp


@dataclass
class ReportInput:
    """What a report is made of.

    Attributes:
        incident: the incident.
        records: its records, in chain order.
        environment: a summary of the config (no secrets): label → value.
        chain: the verification of the whole record: ``ok``, ``count``, ``head``, ``message``.
        detected_at: UTC record time to measure from (``--detected-at``), or None.
        conclusion: the analyst's conclusion (default: the closing note, if any).
        drill: the drill's sections (see :mod:`irtui.lab.drill`), or None.
        generated_by: ``user@host``.
        whole_record: the records of every incident (chain order), so an unblock recorded
            in another incident ends this one's block; None: only ``records``.
        at: the report's time (aware, UTC) for expiries; None: now.
    """

    incident: Incident
    records: Sequence[Record]
    environment: Mapping[str, Any]
    chain: Mapping[str, Any]
    detected_at: str | None = None
    conclusion: str = ""
    drill: Mapping[str, Any] | None = None
    generated_by: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    whole_record: Sequence[Record] | None = None
    at: datetime | None = None


def duration(seconds: float | None) -> str:
    """``0.432 s``, ``12.3 s``, ``4m 05s``, ``2h 03m``; None → ``—``."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, one line)."""
    return " ".join(str(value if value is not None else "—").split()).replace("|", "\\|")


def _evidence(body: dict[str, Any]) -> dict[str, Any]:
    """One evidence row for the report, from either kind of evidence record: a single item
    (``name``, ``sha256``, ``bytes``, ``command``) or a sealed triage collection (``path``,
    ``status``, ``tar_sha256``, ``bytes``, ``files``, ``summary``; see
    :mod:`irtui.core.triage.host_collection`)."""
    if "tar_sha256" in body:
        return {"ts": body.get("ts", body.get("finished", "")), "host": body.get("host", ""),
                "name": f"triage collection {body.get('path', '')} ({body.get('status', '')}, "
                        f"{body.get('files', 0)} files)",
                "sha256": body.get("tar_sha256", ""), "bytes": body.get("bytes", 0),
                "command": f"irtui collect — {body.get('summary', '')}"}
    return {"ts": body.get("ts", ""), "host": body.get("host", ""),
            "name": body.get("name", ""), "sha256": body.get("sha256", ""),
            "bytes": body.get("bytes", ""), "command": body.get("command", "")}


def _stopped(row: dict[str, Any], stop: Stop) -> None:
    """A timeline row for a run stopped by an error: refused or not run changed nothing and
    never reads "failed"; one inside an action points at it."""
    what = {"refused": "refused", "not run": "not run"}.get(stop.kind.value, "error in")
    row.update(what=f"{what}: {stop.action}" + (" (dry run)" if stop.dry_run else "")
               + (f" (action #{stop.action_id})" if stop.action_id is not None else ""),
               outcome=stop.kind.label, css=stop.kind.name.lower(), detail=stop.message)


def _describe(record: Record, actions: Mapping[int, Action],
              stops: Mapping[int, Stop]) -> dict[str, Any] | None:
    b = record.body
    kind = record.kind
    row: dict[str, Any] = {"ts": record.ts, "analyst": b.get("analyst", ""), "hosts": "",
                           "outcome": "", "detail": "", "seq": record.seq}
    if kind == "incident.opened":
        row.update(what=f"incident opened: {b.get('title')} (severity {b.get('severity')})")
    elif kind == "incident.status":
        row.update(what=f"status {b.get('from')} → {b.get('to')}", detail=b.get("note", ""))
    elif kind == "incident.note":
        row.update(what="note", detail=b.get("text", ""))
    elif kind in ("plan", "action"):
        action = actions[record.seq]
        took = seconds_between(action.ts, action.end) if action.end else None
        row.update(what=action.summary, hosts=", ".join(action.hosts), outcome=action.outcome,
                   detail=f"reason: {action.reason}" + (f"; took {duration(took)}"
                                                        if took is not None and kind == "plan"
                                                        else ""))
        if kind == "action" and b.get("detail"):
            row["detail"] += f"; {b.get('detail')}"
    elif kind == "error":
        _stopped(row, stops[record.seq])
    elif kind == "plan.declined":
        row.update(what=f"declined: {b.get('summary')}", outcome="declined")
    elif kind == "evidence":
        e = _evidence(b)
        row.update(what=f"evidence {e['name']}", hosts=e["host"], detail=f"sha256 {e['sha256']}")
    elif kind == "artifact":
        row.update(what=f"{b.get('role', 'artifact')}: {b.get('title', '')}")
    elif kind == "snapshot":
        row.update(what="ruleset snapshot saved", detail=f"sha256 {b.get('sha256')}")
    elif kind == "drift":
        row.update(what="drift check", hosts=", ".join(b.get("hosts", [])),
                   detail=b.get("summary", ""))
    elif kind == "legacy":
        row.update(ts=b.get("original_ts") or record.ts,
                   what=f"imported {b.get('event')}: {b.get('summary', '')}",
                   outcome={True: "ok", False: "failed"}.get(b.get("ok"), ""),
                   detail=f"from {b.get('source')} line {b.get('line')}")
    else:
        return None
    row.setdefault("css", row["outcome"])
    return row


def _screens(records: Sequence[Record], store: RecordStore) -> list[dict[str, Any]]:
    screens = []
    for record in records:
        if record.kind != "artifact" or record.get("role") != "screenshot":
            continue
        data = store.read_artifact(str(record.get("sha256", "")))
        intact = data is not None and digest(data) == record.get("sha256")
        slug = re.sub(r"[^a-z0-9]+", "-", str(record.get("title", "")).lower()).strip("-")
        screens.append({"title": record.get("title", ""), "ts": record.ts,
                        "sha256": record.get("sha256"), "intact": intact,
                        "file": f"{len(screens) + 1:02d}-{slug[:40] or 'screen'}.svg",
                        "svg": data if intact else None,
                        "data_uri": ("data:image/svg+xml;base64,"
                                     + base64.b64encode(data).decode()) if intact and data
                        else ""})
    return screens


def build_context(inp: ReportInput, store: RecordStore) -> dict[str, Any]:
    """Everything the templates show, from ``inp``'s records."""
    actions = actions_of(inp.records)
    by_id = {a.id: a for a in actions}
    stops = stops_of(inp.records)
    later = actions_of(inp.whole_record) if inp.whole_record is not None else []
    metrics: Metrics = compute(inp.incident, actions, inp.detected_at, stops=stops,
                               later=later, now=inp.at, records=inp.records)
    per_host: dict[str, list[dict[str, Any]]] = {}
    for action in actions:
        for host, r in action.results.items():
            per_host.setdefault(host, []).append(
                {"ts": r.ts, "what": action.summary, "outcome": r.outcome, "ok": r.ok,
                 "message": r.message, "duration": r.duration_s})
        for host in action.hosts:
            if host not in action.results and action.outcome == "interrupted":
                per_host.setdefault(host, []).append(
                    {"ts": action.ts, "what": action.summary, "outcome": "interrupted",
                     "ok": False, "message": "no result recorded (process stopped)",
                     "duration": None})
    by_seq = {s.seq: s for s in stops}
    timeline = [row for r in inp.records if (row := _describe(r, by_id, by_seq)) is not None]
    closing = [h[4] for h in inp.incident.history if h[3] == "closed" and h[4]]
    return {
        "incident": inp.incident, "metrics": metrics, "actions": actions,
        "timeline": timeline, "per_host": dict(sorted(per_host.items())),
        "evidence": [_evidence(r.body) for r in inp.records if r.kind == "evidence"],
        "notifications": [a for a in actions if a.action == "notify"],
        "screens": _screens(inp.records, store), "environment": inp.environment,
        "chain": inp.chain, "drill": inp.drill, "generated_at": utc_stamp(),
        "generated_by": inp.generated_by,
        "conclusion": inp.conclusion or (closing[-1] if closing else ""),
        "scope": sorted({h for a in actions for h in a.hosts}),
        "iocs": sorted({row.entry for row in metrics.blocks}),
        "intended": _intended(metrics), "ever_blocked": _by_entry(metrics), **inp.extra,
    }


def _intended(metrics: Metrics) -> list[tuple[str, list[str]]]:
    """``(entry, hosts)`` still meant to be blocked at the report's time, per the record."""
    hosts: dict[str, set[str]] = {}
    for row in metrics.intended_blocks:
        hosts.setdefault(row.entry, set()).update(row.intended_hosts)
    return [(entry, sorted(where)) for entry, where in sorted(hosts.items())]


def _by_entry(metrics: Metrics) -> list[tuple[str, list[Any]]]:
    """Every entry blocked at some point, with its blocks (placed in time order)."""
    rows: dict[str, list[Any]] = {}
    for row in metrics.blocks:
        rows.setdefault(row.entry, []).append(row)
    return sorted(rows.items())


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("irtui.core.record", "templates"),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True)
    env.filters.update(duration=duration, md=md_cell)
    return env


def render(context: Mapping[str, Any]) -> tuple[str, str]:
    """The Markdown and the HTML text of a report built by :func:`build_context`."""
    env = _environment()
    return (env.get_template("report.md.j2").render(**context),
            env.get_template("report.html.j2").render(**context))


def write_report(inp: ReportInput, store: RecordStore, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<id>.md`` (with its screenshots in ``<id>-screens/``) and ``<id>.html``
    into ``out_dir`` (created), 0600 like the rest of the record.

    Returns:
        ``(markdown_path, html_path)``.

    Raises:
        AuditError: ``out_dir`` cannot be written.
    """
    context = build_context(inp, store)
    markdown, html = render(context)
    name = inp.incident.id
    md_path, html_path = out_dir / f"{name}.md", out_dir / f"{name}.html"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for screen in context["screens"]:
            if screen["svg"]:
                shots = out_dir / f"{name}-screens"
                shots.mkdir(exist_ok=True)
                (shots / screen["file"]).write_bytes(screen["svg"])
                (shots / screen["file"]).chmod(0o600)
        for path, text in ((md_path, markdown), (html_path, html)):
            path.write_text(text, encoding="utf-8")
            path.chmod(0o600)
    except OSError as exc:
        raise AuditError(f"cannot write the report in {out_dir} ({exc.strerror or exc})",
                         "pass --out with a writable directory") from None
    return md_path, html_path
