"""Telling the team: one message to e-mail and chat channels at once, each channel's result
recorded in the audit trail (success or failure, never a secret), and the incident context
that templates are filled from.

The context comes from the live read-back of every host (what *is* isolated and blocked)
plus this session's audit records. The incident record (built on its own branch) will
provide the same :class:`~irtui.core.notify.templates.NotifyContext` through
:class:`~irtui.core.notify.templates.ContextSource`: pass it as ``source`` to
:func:`incident_context` and it replaces the session-only view.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from irtui.core.actions.context import ActionContext
from irtui.core.actions.reads import each_host
from irtui.core.audit import utc_now
from irtui.core.errors import IrtuiError
from irtui.core.firewall.state import HostState
from irtui.core.notify.attachments import check_attachments
from irtui.core.notify.dispatch import (
    Outgoing,
    Preview,
    check_message,
    preview_one,
    readiness,
    select_channels,
    send_all,
)
from irtui.core.notify.result import ChannelResult
from irtui.core.notify.templates import (
    ContextSource,
    EvidenceHash,
    NotifyContext,
    pick_template,
)
from irtui.core.record.recorder import IncidentRecorder
from irtui.core.record.timeline import actions_of


def send(ctx: ActionContext, out: Outgoing, channels: Sequence[str] = ()) -> list[ChannelResult]:
    """Send ``out`` to ``channels`` (empty: every configured one) at once and record each
    channel's result in the audit trail.

    Args:
        ctx: the session.
        out: subject, body, e-mail recipients, attachments.
        channels: channel names (``email`` and ``[notify.channels]`` names).

    Returns:
        One :class:`ChannelResult` per channel, in order; a failing channel never stops the
        others.

    Raises:
        InvalidTargetError: an empty message; an unknown channel name; an attachment
            that is not a regular file or attachments over the cap
            (:func:`~irtui.core.notify.attachments.check_attachments`), before any
            connection.
        NotifyError: no channel configured at all (recorded in the audit trail too).
        AuditError: the audit trail cannot be written (after sending: the results are lost
            from the record, so the front must show this error).
    """
    try:
        check_message(out)
        check_attachments(out.attachments)  # before any connection: regular files, capped
        names = select_channels(ctx.config, channels)
    except IrtuiError as exc:  # recorded too: a notification that could not even start
        ctx.audit.note("notify", f"'{out.subject}' (no channel)", False, exc.line)
        raise
    results = send_all(ctx.config, names, out)
    digest = hashlib.sha256(out.body.encode()).hexdigest()[:16]
    for r in results:
        whom = ""
        if r.channel == "email":
            whom = " to " + ", ".join([*out.to, *out.cc] or
                                      [*ctx.config.email.to, *ctx.config.email.cc])
        files = f", {len(out.attachments)} attachment(s)" if out.attachments else ""
        ctx.audit.note("notify", f"{r.channel} ({r.kind}) '{out.subject}'{whom}", r.ok,
                       f"{r.line} [body sha256 {digest}…, {len(out.body)} chars{files}]")
    return results


def preview(ctx: ActionContext, out: Outgoing, channels: Sequence[str] = ()) -> list[Preview]:
    """What each channel would send (``--dry-run``, the TUI's preview); sends nothing.

    Raises:
        InvalidTargetError: as :func:`send`.
    """
    check_message(out)
    check_attachments(out.attachments)
    return [preview_one(ctx.config, name, out)
            for name in select_channels(ctx.config, channels)]


def problems(ctx: ActionContext, channels: Sequence[str] = ()) -> list[ChannelResult]:
    """What is not configured among ``channels`` (empty: every configured one), each with
    its exact fix; nothing is sent (see :func:`irtui.core.notify.dispatch.readiness`).

    Raises:
        InvalidTargetError: as :func:`send`.
    """
    return readiness(ctx.config, select_channels(ctx.config, channels))


def _read_all(ctx: ActionContext) -> dict[str, HostState | str]:
    """Every host's live state, or why it could not be read, in parallel."""

    def one(name: str) -> tuple[str, HostState | str]:
        try:
            return name, ctx.read_state(name)
        except IrtuiError as exc:
            return name, exc.problem
        except Exception as exc:  # an unreadable host must not stop the message
            return name, f"internal error: {type(exc).__name__}"

    names = [h.name for h in ctx.config.hosts]
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=min(ctx.config.ssh.max_parallel, len(names))) as pool:
        return dict(pool.map(one, names))


def _evidence(ctx: ActionContext) -> tuple[EvidenceHash, ...]:
    """Evidence with its SHA-256: the incident's collections and ruleset snapshots from the
    incident record, or (a plain audit trail) this session's ``saved`` events."""
    if isinstance(ctx.audit, IncidentRecorder):
        incident = ctx.audit.incident_id()
        if incident is None:
            return ()
        out = []
        for rec in ctx.audit.store.records(incident, ("evidence", "snapshot")):
            body = rec.body
            digest = body.get("tar_sha256") or body.get("sha256")
            if digest:
                out.append(EvidenceHash(str(body.get("path") or body.get("name", "")),
                                        str(digest)))
        return tuple(out)
    try:
        lines = ctx.audit.trail_path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ()
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "saved" and record.get("sha256"):
            out.append(EvidenceHash(str(record.get("path", "")), str(record["sha256"])))
    return tuple(out)


def _actions(ctx: ActionContext) -> tuple[tuple[bool, str], ...]:
    """``(ok, summary)`` of every action of the incident (the record), else of this
    session (a plain audit trail)."""
    if isinstance(ctx.audit, IncidentRecorder):
        incident = ctx.audit.incident_id()
        if incident is not None:
            return tuple((a.outcome == "ok", a.summary)
                         for a in actions_of(ctx.audit.store.records(incident)))
    return tuple((r.ok, r.summary) for r in ctx.audit.records)


def _incident_id(ctx: ActionContext) -> str:
    if isinstance(ctx.audit, IncidentRecorder):
        return ctx.audit.incident_id() or ctx.audit.session
    return ctx.audit.session


def _who(ctx: ActionContext) -> str:
    if isinstance(ctx.audit, IncidentRecorder):
        return ctx.audit.analyst
    return ctx.audit.operator


def _unconfirmed(ctx: ActionContext, name: str) -> str:
    """Why ``name``'s isolation, read back whole, may not last: its rollback timer is still
    armed (never confirmed) or cannot be read; ``""`` when it is confirmed."""
    from irtui.core.actions.status import rollback_status
    from irtui.core.rollback import TimerState

    try:
        timer = rollback_status(ctx, name)
    except IrtuiError as exc:
        return f"rollback timer unreadable ({exc.problem}): it may still roll back"
    if timer.state is TimerState.ARMED:
        left = timer.fires_in
        return f"NOT CONFIRMED: the host rolls the isolation back by itself{left}"
    if timer.state is TimerState.UNKNOWN:
        return "rollback timer unknown: it may still roll back"
    return ""


def session_context(ctx: ActionContext, states: dict[str, HostState | str] | None = None,
                    incident_id: str = "") -> NotifyContext:
    """The incident context from what this session can see.

    Args:
        ctx: the session.
        states: host → live state or the reason it could not be read; default: every host
            is read now (one SSH read each, in parallel).
        incident_id: the incident's id; default the incident this session records in (the
            audit session id with a plain audit trail).

    Returns:
        A :class:`NotifyContext` whose isolation and blocklist come from the read-back (the
        truth), not from what irtui remembers doing.
    """
    states = _read_all(ctx) if states is None else states
    isolated, partial, blocked, unknown = [], [], {}, []
    whole = [n for n, st in states.items() if isinstance(st, HostState) and st.isolated]
    timers = each_host(ctx, whole, lambda n: _unconfirmed(ctx, n))  # at once, as the reads
    for name, state in states.items():
        if isinstance(state, str):
            unknown.append((name, state))
            continue
        pending = timers.get(name, "")
        if isinstance(pending, IrtuiError):  # _unconfirmed answers every failure itself
            pending = f"rollback timer unreadable ({pending.problem})"
        if state.isolated and pending:
            partial.append((name, pending))  # the host undoes it by itself: not contained
        elif state.isolated:
            isolated.append(name)
        elif state.isolation is not None:  # PARTIAL: in the ruleset, not containing
            partial.append((name, state.isolation.problem or "only partly in force"))
        for entry in state.blocks:  # a listed entry nothing drops is said as such
            blocked.setdefault(entry.text, []).append(
                name if entry.enforced else f"{name} (NOT ENFORCED)")
    return NotifyContext(
        incident_id=incident_id or _incident_id(ctx),
        who=_who(ctx),
        when=utc_now(),
        hosts_isolated=tuple(isolated),
        hosts_partial=tuple(partial),
        addresses_blocked=tuple((e, tuple(h)) for e, h in blocked.items()),
        unknown_hosts=tuple(unknown),
        evidence=_evidence(ctx),
        actions=_actions(ctx),
        audit_trail=str(ctx.audit.trail_path),
    )


def incident_context(ctx: ActionContext, source: ContextSource | None = None) -> NotifyContext:
    """The context templates are filled from: the incident record's when one is given
    (``source``), else :func:`session_context`."""
    return source.notify_context() if source is not None else session_context(ctx)


def render(ctx: ActionContext, template: str = "",
           context: NotifyContext | None = None) -> tuple[str, str]:
    """Fill a template (``template`` name; empty: ``notify.default_template``, else the
    built-in one) with ``context`` (default :func:`incident_context`).

    Returns:
        ``(subject, body)``.

    Raises:
        InvalidTargetError: no template of that name.
    """
    settings = ctx.config.notify
    chosen = pick_template(settings.templates, template or settings.default_template)
    return chosen.render(context if context is not None else incident_context(ctx))
