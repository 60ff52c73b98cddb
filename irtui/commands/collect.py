"""Forensic triage verbs: ``collect`` and ``evidence verify|list|artifacts``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irtui.commands import jsondata, jsonout
from irtui.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    action_parser,
    responder,
    run_plan,
    verb_group,
)

if TYPE_CHECKING:
    from irtui.core.config import Config
    from irtui.core.triage.recorded import CollectionRecords


def _names(text: str | None) -> list[str] | None:
    """The artifact names of ``--artifacts`` (None: the option was not given).

    Raises:
        InvalidTargetError: it was given but names nothing (``--artifacts ''``): never read
            as "every artifact".
    """
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        from irtui.core.errors import InvalidTargetError

        raise InvalidTargetError("--artifacts names no artifact; nothing was collected",
                                 "give artifact names (irtui evidence artifacts lists them), "
                                 "or leave --artifacts out to collect every one")
    return names


def cmd_collect(args: argparse.Namespace, config: Config) -> int:
    """``irtui collect``: plan (probe every host), then stream every artifact to disk."""
    fw = responder(config, args)
    try:
        plan = fw.plan_collect(args.hosts, artifacts=_names(args.artifacts),
                               volatile_only=args.volatile_only, incident=args.incident)
        return run_plan(args, fw, plan)
    finally:
        fw.close()


def _records(args: argparse.Namespace) -> CollectionRecords:
    """The collections the incident record holds: the record at ``record.path`` of the
    config given with ``--config`` (or ``$IRTUI_CONFIG``, or the default config file when
    there is one), else the default record. Evidence is verified without a config (on
    another machine, say): a record that is not there makes the verdict UNKNOWN.

    Raises:
        ConfigError, AuditError: the config named cannot be used (exit 2).
    """
    from irtui.core.config import load_config, parse_config
    from irtui.core.errors import AuditError, ConfigError
    from irtui.core.paths import ENV_CONFIG, default_config_path
    from irtui.core.triage.recorded import RECORD_FIX, CollectionRecords, read_record

    named = getattr(args, "config", None) is not None or bool(os.environ.get(ENV_CONFIG))
    try:
        if named or default_config_path().exists():
            return read_record(load_config(getattr(args, "config", None)).resolved_record_path)
        return read_record(parse_config({}).resolved_record_path)
    except (ConfigError, AuditError) as exc:
        if named:
            raise
        return CollectionRecords("the default incident record", problem=exc.problem,
                                 fix=RECORD_FIX)


def cmd_verify(args: argparse.Namespace, config: Config | None) -> int:
    """``irtui evidence verify PATH``: every hash re-checked, the manifest and tar against
    the incident record; exit 0 only when INTACT, 1 when ALTERED or UNKNOWN (the record could
    not vouch for the manifest)."""
    from irtui.core.triage.verify import Verdict, verify

    report = verify(args.path, _records(args))
    jsonout.report().put(**jsondata.evidence_check(report))  # --json
    for line in report.lines():
        print(line)
    return EXIT_OK if report.verdict is Verdict.INTACT else EXIT_FAILED


def _collections(base: Path) -> list[dict[str, Any]]:
    from irtui.core.triage.evidence import ARTIFACTS_DIR, LOG, MANIFEST, read_sealed

    rows = []
    for folder in sorted(base.glob(f"*/*/*/{ARTIFACTS_DIR}")):
        folder = folder.parent
        row: dict[str, Any] = {"incident": folder.parent.parent.name,
                               "host": folder.parent.name, "collection": folder.name,
                               "status": "unsealed", "files": 0, "bytes": 0,
                               "path": str(folder)}
        try:
            manifest = json.loads(read_sealed(folder / MANIFEST).decode("utf-8"))
            files = manifest.get("files", [])
            row.update(status=manifest.get("status", "?"), files=len(files),
                       bytes=sum(int(f.get("bytes", 0)) for f in files))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError, TypeError):
            row["status"] = "damaged"  # irtui evidence verify names what
        try:
            log = json.loads(read_sealed(folder / LOG).decode("utf-8"))
            row["started"] = log.get("started", "")
        except (OSError, ValueError, AttributeError):
            row["started"] = ""
        rows.append(row)
    return rows


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    """``irtui evidence list``: every collection under ``triage.evidence_dir``."""
    from irtui.core.triage.naming import incident_component

    base = config.triage.resolved_evidence_dir
    wanted = incident_component(args.incident) if args.incident else None
    rows = [r for r in _collections(base) if wanted is None or r["incident"] == wanted]
    jsonout.report().put(evidence_dir=str(base), collections=rows)  # --json
    print(f"evidence in {base}")
    print(f"{'COLLECTION':<20} {'INCIDENT':<16} {'HOST':<12} {'STATUS':<10} {'FILES':>5} "
          f"{'BYTES':>13}  PATH")
    for r in rows:
        print(f"{r['collection']:<20} {r['incident']:<16} {r['host']:<12} {r['status']:<10} "
              f"{r['files']:>5} {r['bytes']:>13,}  {r['path']}")
    if not rows:
        print("(no collections yet: irtui collect HOST)")
    return EXIT_OK


def cmd_artifacts(args: argparse.Namespace, config: Config) -> int:
    """``irtui evidence artifacts``: the artifacts in force, in order of volatility."""
    from irtui.core.triage import catalog

    artifacts = [catalog.describe(a) for a in catalog.effective(config.triage)]
    jsonout.report().put(artifacts=artifacts)  # --json
    for a in artifacts:
        root = " root" if a["needs_root"] else ""
        fallback = f"; fallback {a['fallback']}" if a["fallback"] else ""
        needs = f"; needs {', '.join(a['needs'])}" if a["needs"] else ""
        print(f"{a['order']} {a['name']:<28} {a['description']}{needs}{fallback}{root}")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the triage verbs to ``sub``."""
    p = action_parser(sub, "collect", "collect forensic triage evidence from hosts over SSH "
                      "(order of volatility; hashed; nothing written on the hosts)")
    p.add_argument("hosts", nargs="+", metavar="HOST",
                   help="host name, @group or all (or comma-separated)")
    p.add_argument("--artifacts", metavar="A,B",
                   help="only these artifacts (see irtui evidence artifacts)")
    p.add_argument("--volatile-only", action="store_true",
                   help="only the volatile part: network state and processes (order 1-2)")
    p.set_defaults(handler=cmd_collect)

    _, verbs = verb_group(sub, "evidence", "check, list and describe collected evidence",
                          "evidence_cmd")
    p = verbs.add_parser("verify", help="re-check every SHA-256 of a collection and its "
                         "manifest against the incident record (--config: whose); names what "
                         "changed (exit 1, also when the record cannot vouch for it)")
    p.add_argument("path", metavar="PATH", help="a collection folder or its evidence.tar.gz")
    p.set_defaults(handler=cmd_verify, needs_config=False)
    p = verbs.add_parser("list", help="collections under triage.evidence_dir")
    p.add_argument("--incident", metavar="ID", help="only this incident")
    p.set_defaults(handler=cmd_list)
    p = verbs.add_parser("artifacts", help="the artifacts in force (built-in + config)")
    p.set_defaults(handler=cmd_artifacts)

