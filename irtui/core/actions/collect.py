"""Forensic triage: plan an evidence collection (the exact remote command of every artifact
on every host), optionally followed by another plan on the same hosts — collect, then
contain.

The plan's steps are local steps (see :mod:`irtui.core.triage.host_collection`): running it
through :meth:`~irtui.core.actions.facade.Responder.execute` streams every artifact into the
evidence folder, emits ``StepStarted``/``OutputLine``/``Progress``/``HostResult`` events,
writes the chain-of-custody entry (``audit.write("evidence", ...)``), and verifies every
hash afterwards (``plan.verify``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from irtui.core.actions.context import ActionContext
from irtui.core.errors import ActionError, SSHError
from irtui.core.plan import Plan
from irtui.core.settings import HostConfig
from irtui.core.triage import catalog
from irtui.core.triage.collector import REMOTE_TIMEOUT, TriageFacts, plan_artifacts, probe
from irtui.core.triage.host_collection import HostCollection
from irtui.core.triage.naming import incident_component
from irtui.core.triage.verify import verify

NOTHING_WRITTEN = ("nothing is written on the hosts: every artifact only reads (the SSH "
                   "login and sudo are logged by each host, as any access is)")


def _probe_all(ctx: ActionContext, chosen: list[HostConfig], tools: set[str],
               plan: Plan) -> dict[str, TriageFacts]:
    """Probe the hosts in parallel. With one host its error propagates; with several, a
    host that cannot be probed is recorded in ``plan.failed`` and the others go ahead."""
    def one(host: HostConfig) -> TriageFacts | Exception:
        try:
            return probe(ctx.pool, host, tools)
        except (SSHError, ActionError) as exc:
            return exc

    workers = max(1, min(len(chosen), ctx.config.triage.parallel * 2, 16))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = dict(zip([h.name for h in chosen], pool.map(one, chosen), strict=True))
    facts: dict[str, TriageFacts] = {}
    for name, got in found.items():
        if isinstance(got, Exception):
            if len(chosen) == 1:
                raise got
            plan.failed[name] = getattr(got, "line", str(got))
        else:
            facts[name] = got
    return facts


def plan_collect(ctx: ActionContext, hosts: Sequence[str], artifacts: Sequence[str] | None = None,
                 volatile_only: bool = False, incident: str | None = None,
                 then: Plan | None = None) -> Plan:
    """Plan collecting triage evidence from ``hosts``, in order of volatility (RFC 3227).

    Reads each host first (a read-only probe as the login user: tools installed, root or
    ``sudo -n``, clock offset, host key), so the plan holds the exact command of every
    artifact on every host: the primary one, its fallback where a tool is missing (e.g.
    /proc/net instead of ``ss``), or "not available".

    Args:
        hosts: host names, ``@group`` or ``all``.
        artifacts: artifact names to collect (None: every artifact in force, see
            :func:`irtui.core.triage.catalog.effective`).
        volatile_only: only the volatile part (order <= 2: network state, processes).
        incident: incident id for the evidence folder (None: ``no-incident``).
        then: a plan on the same hosts to run right after each host's collection (e.g. an
            isolation plan): the result is one plan whose steps per host are the collection,
            the seal, then ``then``'s steps; its action, confirmation and entries are
            ``then``'s, and it verifies both. Hosts ``then`` skips or could not plan are not
            collected from.

    Returns:
        The plan. Executing it writes one collection folder per host under
        ``triage.evidence_dir/<incident>/<host>/`` and reports per host where and how
        complete; a host whose collection is incomplete (cancelled, connection lost,
        evidence directory not writable) is FAILED and ``then``'s steps do not run there.

    Raises:
        InvalidTargetError: no host given, unknown artifact names, or nothing to collect.
        UnknownHostError, SSHError, HostKeyError, ActionError: reading the single host.
    """
    settings = ctx.config.triage
    picked = catalog.select(catalog.effective(settings), artifacts, volatile_only)
    skipped_notes: list[str] = []
    if then is not None:
        names = [h for h in then.hosts if h not in then.skipped and h not in then.failed]
        chosen = [ctx.config.host(h) for h in names]
        skipped_notes = [f"{h}: no evidence collected: nothing to do there ({why})"
                         for h, why in then.skipped.items()]
    else:
        chosen = ctx.select(hosts)
    what = "volatile evidence (network, processes)" if volatile_only else "triage evidence"
    plan = Plan("collect", f"collect {what}: {len(picked)} artifacts from "
                f"{', '.join(h.name for h in chosen) or 'no host'}",
                [h.name for h in chosen], notes=[NOTHING_WRITTEN, *skipped_notes])
    tools = set().union(*(a.tools for a in picked)) | {REMOTE_TIMEOUT}
    facts = _probe_all(ctx, chosen, tools, plan) if chosen else {}
    base = settings.resolved_evidence_dir
    plan.notes.append(f"evidence goes to {base / incident_component(incident)}/<host>/")
    gate = threading.Semaphore(settings.parallel)
    values = catalog.placeholder_values(settings)
    collections: dict[str, HostCollection] = {}
    steps: dict[str, list] = {}
    for host in chosen:
        if host.name not in facts:
            continue
        planned = plan_artifacts(host, facts[host.name], picked, values)
        for p in planned:
            plan.notes += [f"{host.name}: {p.artifact.name}: {n}" for n in p.notes()]
        if not facts[host.name].privileged:
            plan.notes.append(f"{host.name}: {host.user} is not root and sudo -n is refused: "
                              "artifacts needing root run as the user and miss what only "
                              "root may read")
        collection = HostCollection(ctx.pool, ctx.audit, host, facts[host.name], planned,
                                    base_dir=base, incident=incident, gate=gate,
                                    before="containment" if then is not None else "")
        collections[host.name] = collection
        steps[host.name] = collection.steps()

    def verify_evidence(host: str) -> str | None:
        collection = collections.get(host)
        if collection is None or collection.folder is None:
            return "no evidence folder was written"
        report = verify(collection.folder)
        return None if report.ok else "evidence does not verify: " + "; ".join(
            report.lines()[1:4])

    if then is None:
        plan.steps = [s for h in plan.hosts for s in steps.get(h, [])]
        plan.verify = verify_evidence
        return plan
    return _collect_then(plan, then, steps, verify_evidence)


def _collect_then(collect: Plan, then: Plan, steps: dict[str, list],
                  verify_evidence) -> Plan:  # type: ignore[no-untyped-def]
    """One plan: each host's collection steps, then ``then``'s steps for that host."""
    combined = Plan(then.action, f"{collect.summary}; then {then.summary}", then.hosts,
                    notes=[*collect.notes, *then.notes], skipped=dict(then.skipped),
                    failed={**then.failed, **{
                        h: f"evidence collection could not start ({why}); nothing was changed "
                           "— contain without collecting first if it cannot wait"
                        for h, why in collect.failed.items()}}, dangerous=then.dangerous,
                    confirm_text=then.confirm_text, entries=then.entries)
    combined.steps = [s for h in then.hosts
                      for s in [*steps.get(h, []), *(t for t in then.steps if t.host == h)]]
    then_verify = then.verify

    def verify_both(host: str) -> str | None:
        problems = [p for p in (verify_evidence(host), then_verify(host) if then_verify
                                else None) if p]
        return "; ".join(problems) or None

    combined.verify = verify_both
    combined.recheck = then.recheck
    return combined
