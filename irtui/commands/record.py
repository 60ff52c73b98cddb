"""The incident record: ``incident``, ``audit``, ``drift``, ``reapply``, ``report``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from irtui.commands import jsondata, jsonout
from irtui.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    ON_HELP,
    Printer,
    action_parser,
    record_options,
    recorder,
    responder,
)

if TYPE_CHECKING:
    from irtui.core.config import Config
    from irtui.core.record.incidents import Incident
    from irtui.core.record.recorder import IncidentRecorder


def _which(rec: IncidentRecorder, given: str | None) -> str:
    from irtui.core.errors import InvalidTargetError

    chosen = given or rec.incident_id()
    if not chosen:
        raise InvalidTargetError("no incident given and no current incident",
                                 "name one (see irtui incident list) or open one with "
                                 "irtui incident new TITLE")
    return rec.register.get(chosen).id


def _line(incident: Incident, current: str | None) -> str:
    mark = "*" if incident.id == current else " "
    return (f"{mark} {incident.id}  {incident.status.value:<10} {incident.severity:<10} "
            f"{incident.opened_at[:16]}  {incident.title}")


def _show(rec: IncidentRecorder, incident: Incident, args: argparse.Namespace) -> None:
    from irtui.core.record.timeline import actions_of

    print(f"{incident.id} — {incident.title}\nstatus {incident.status.value}, severity "
          f"{incident.severity}; opened {incident.opened_at} by {incident.opened_by}"
          + (f"; detected {incident.detected_at}" if incident.detected_at else "")
          + (f"; closed {incident.closed_at}" if incident.closed_at else ""))
    print(f"analysts: {', '.join(incident.analysts)}")
    for ts, who, old, new, note in incident.history:
        print(f"{ts}  {who}: {old} → {new}" + (f" ({note})" if note else ""))
    shown = [a for a in actions_of(rec.store.records(incident.id))
             if (not args.host or args.host in a.hosts)
             and (not args.action or a.action == args.action)]
    jsonout.report().put(actions=[jsondata.action(a) for a in shown])  # --json
    for action in shown:
        print(f"{action.ts}  #{action.id:<5} {action.outcome.upper():<11} {action.summary}"
              f"  [{action.reason}]")
        for host, r in action.results.items():
            print(f"    {host}: {r.outcome} — {r.message} ({r.duration_s:.2f} s)")
    for note in incident.notes:
        print(f"{note.ts}  note by {note.analyst}: {note.text}")


def cmd_incident(args: argparse.Namespace, config: Config) -> int:
    """``irtui incident new|list|show|use|note|status|close``."""
    from irtui.core.record.incidents import Phase, parse_phase

    rec = recorder(config, args)
    reg = rec.register
    verb = args.incident_cmd
    incident: Incident | None = None
    if verb == "new":
        incident = reg.open(" ".join(args.title), args.severity, args.detected_at)
        print(f"{incident.id} opened (status detected); it is now your current incident")
    elif verb == "list":
        incidents = list(reg.all().values())
        current = reg.current_id()
        jsonout.report().put(current=current,  # --json
                             incidents=[jsondata.incident(i, current) for i in incidents])
        for item in incidents:
            print(_line(item, current))
        if not incidents:
            print("(no incidents; open one with irtui incident new TITLE)")
    elif verb == "show":
        incident = reg.get(_which(rec, args.id))
        _show(rec, incident, args)
    elif verb == "use":
        incident = reg.use(args.id)
        print(_line(incident, args.id.upper()))
    elif verb == "note":
        target = _which(rec, args.incident)
        reg.add_note(target, " ".join(args.text))
        incident = reg.get(target)
        print(f"noted in {target}")
    elif verb == "close":
        incident = reg.set_status(_which(rec, args.id), Phase.CLOSED, args.note or "")
        print(f"{incident.id} closed")
    else:
        target = _which(rec, args.id)
        if args.set:
            reg.set_status(target, parse_phase(args.set), args.note or "")
        incident = reg.get(target)
        print(f"{incident.id}: {incident.status.value}")
    if incident is not None:  # --json
        jsonout.report().incident = incident.id
        jsonout.report().put(incident=jsondata.incident(incident, reg.current_id()))
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, config: Config) -> int:
    """``irtui audit verify|export|import``."""
    fw = responder(config, args)
    if args.audit_cmd == "export":
        records = fw.export_record(args.id)
        if args.id:
            jsonout.report().incident = fw.recorder.register.get(args.id).id
        if args.json:  # the envelope carries the records
            jsonout.report().put(records=records)
        else:
            print(json.dumps(records, indent=2, ensure_ascii=False))
        return EXIT_OK
    if args.audit_cmd == "import":
        incident, done = fw.import_legacy(Path(args.dir) if args.dir else None, args.incident)
        jsonout.report().incident = incident  # --json
        jsonout.report().put(**jsondata.legacy_import(incident, done))
        for path, lines in done.imported.items():
            print(f"imported {path} ({lines} lines) into {incident}")
        for path, numbers in done.unreadable.items():
            print(f"{path}: line(s) {', '.join(map(str, numbers))} not JSON — kept as "
                  "'unreadable' records with their text", file=sys.stderr)
        for path in done.already:
            print(f"{path}: already imported")
        if not done.imported and not done.already:
            where = args.dir or config.resolved_audit_dir
            print(f"no trail of an earlier irtui (*.jsonl) in {where}; nothing imported")
        return EXIT_OK
    check = fw.verify_record(args.id)
    jsonout.report().incident = check.incident  # --json
    jsonout.report().put(**jsondata.record_check(check))
    if check.chain.problem is not None:
        print(f"TAMPERED: {check.chain.problem.message}")
    else:
        scope = f"; {check.records} in {check.incident}" if check.incident else ""
        print(f"chain intact: {check.chain.count} records{scope}; head #{check.chain.head_seq} "
              f"{check.chain.head}")
    for line in check.artifacts:
        print(f"ALTERED: {line}")
    for path in check.pending:
        print(f"note: {path} is a trail of an earlier irtui not in the record yet "
              "(irtui audit import)", file=sys.stderr)
    return EXIT_OK if check.ok else EXIT_FAILED


def cmd_drift(args: argparse.Namespace, config: Config) -> int:
    """``irtui drift``: the record's intended state against each host's live read-back."""
    drifts = responder(config, args).drift(args.on or ["all"])
    for d in drifts:  # --json: data.hosts
        jsonout.report().host(jsondata.drift(d))
    for d in drifts:
        if d.error:
            print(f"{d.host}: UNKNOWN — {d.error}")
            continue
        print(f"{d.host}: {'DRIFT' if d.drifted else 'as recorded'}")
        for b in d.lost:
            print(f"  lost      {b.entry} (placed {b.placed_at} in {b.incident}, "
                  f"meant until {b.expires_at or 'permanent'})"
                  + (": in the set but NOT ENFORCED" if b.entry in d.unenforced else ""))
        for entry in d.unrecorded:
            print(f"  unrecorded {entry} (in irtui's table, never placed by this record)")
        for b, note in d.expiry:
            print(f"  expiry    {b.entry}: {note}")
        if d.isolation_lost:
            print(f"  isolation lost (meant since {d.isolation_lost})"
                  + (f": PARTIAL — {d.isolation_problem}" if d.isolation_problem else ""))
        if d.isolation_widened:
            print(f"  isolation widened: {', '.join(d.isolation_widened)} kept reachable, "
                  "not in the record (release, then isolate again)")
        if d.isolation_unrecorded:
            print(f"  isolation not in the record (since {d.isolation_unrecorded})")
        for entry, why in d.uncertain.items():
            print(f"  uncertain {entry}: {why}")
    if any(d.error for d in drifts):
        return EXIT_UNREACHABLE
    return EXIT_FAILED if any(d.drifted for d in drifts) else EXIT_OK


def cmd_reapply(args: argparse.Namespace, config: Config) -> int:
    """``irtui reapply``: put back what drifted away, as normal block/isolate plans."""
    fw = responder(config, args)
    if not args.reason:
        fw.recorder.reason = "re-apply after drift"
    plans = fw.plan_reapply(fw.drift(args.on or ["all"]))
    jsonout.report().put(plans=[jsonout.plan_json(p) for p in plans])  # --json
    if not plans:
        print("nothing to re-apply: no block or isolation was lost")
        return EXIT_OK
    worst = EXIT_OK
    for plan in plans:
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)
        if args.dry_run:
            print(plan.render())
            continue
        result = fw.execute(plan, Printer(args.quiet))
        jsonout.report().add_result(result)  # --json
        if not result.ok:
            worst = EXIT_FAILED
    return worst


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    """``irtui report INCIDENT``: Markdown + standalone HTML."""
    fw = responder(config, args)
    incident = _which(fw.recorder, args.id)
    md, html = fw.write_report(incident, Path(args.out), detected_at=args.detected_at,
                               conclusion=args.conclusion or "")
    jsonout.report().incident = incident  # --json
    jsonout.report().put(**jsondata.report_files(md, html))
    print(f"{md}\n{html}")
    return EXIT_OK


def _incident_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("incident", help="incidents: new, list, show, use, note, status, "
                       "close")
    isub = p.add_subparsers(dest="incident_cmd", required=True)
    s = isub.add_parser("new", help="open an incident and make it your current one")
    s.add_argument("title", nargs="+")
    s.add_argument("--severity", default="medium",
                   help="unassessed, low, medium (default), high or critical")
    s.add_argument("--detected-at", metavar="TIME", help="when it was detected (ISO 8601)")
    isub.add_parser("list", help="every incident (* marks your current one)")
    s = isub.add_parser("show", help="an incident and its timeline")
    s.add_argument("id", nargs="?", metavar="ID", help="default: your current incident")
    s.add_argument("--host", help="only actions on this host")
    s.add_argument("--action", help="only this action (block, isolate, notify...)")
    s = isub.add_parser("use", help="make an incident your current one")
    s.add_argument("id", metavar="ID")
    s = isub.add_parser("note", help="add a note")
    s.add_argument("text", nargs="+")
    record_options(s, reason=False)
    for name, text in (("status", "show or change the status (NIST SP 800-61 phases)"),
                       ("close", "close an incident")):
        s = isub.add_parser(name, help=text)
        s.add_argument("id", nargs="?", metavar="ID", help="default: your current incident")
        s.add_argument("--note", help="why (recorded with the change)")
        if name == "status":
            s.add_argument("--set", metavar="STATUS",
                           help="detected, analysing, contained, recovering or closed")
    p.set_defaults(handler=cmd_incident)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the record verbs to ``sub``."""
    _incident_parsers(sub)
    p = sub.add_parser("audit", help="the audit trail: verify, export, import old trails")
    asub = p.add_subparsers(dest="audit_cmd", required=True)
    s = asub.add_parser("verify", help="check the hash chain from its first record "
                        "(exit 1 naming the first bad record)")
    s.add_argument("id", nargs="?", metavar="INCIDENT", help="also count this incident's")
    s = asub.add_parser("export", help="the records as a JSON array (with --json: in the "
                        "envelope's data.records)")
    s.add_argument("id", nargs="?", metavar="INCIDENT", help="only this incident's")
    s = asub.add_parser("import", help="import the JSONL trails of earlier irtui versions")
    s.add_argument("dir", nargs="?", help="default: audit.dir")
    record_options(s, reason=False)
    p.set_defaults(handler=cmd_audit)

    text = "compare the record's intended blocks and isolations with the hosts"
    p = sub.add_parser("drift", help=text, description=text + " (exit 1 on drift)")
    p.add_argument("--on", action="append", metavar="HOST", help=ON_HELP + " (default: all)")
    record_options(p, reason=False)
    p.set_defaults(handler=cmd_drift)

    p = action_parser(sub, "reapply", "put back blocks and isolations lost to drift")
    p.add_argument("--on", action="append", metavar="HOST", help=ON_HELP + " (default: all)")
    p.set_defaults(handler=cmd_reapply)

    text = "write an incident's report (Markdown and standalone HTML)"
    p = sub.add_parser("report", help=text, description=text)
    p.add_argument("id", nargs="?", metavar="INCIDENT", help="default: your current incident")
    p.add_argument("--out", default=".", metavar="DIR", help="where (default: here)")
    p.add_argument("--detected-at", metavar="TIME",
                   help="measure time to contain/notify from this time (ISO 8601)")
    p.add_argument("--conclusion", metavar="TEXT", help="the analyst's conclusion")
    p.set_defaults(handler=cmd_report)
