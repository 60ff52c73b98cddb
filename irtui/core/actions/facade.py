"""The action API both fronts call: one object per session, delegating to one module per
capability (:mod:`~irtui.core.actions.block`, :mod:`~irtui.core.actions.isolate`,
:mod:`~irtui.core.actions.status`, :mod:`~irtui.core.actions.notify`,
:mod:`~irtui.core.actions.record`, :mod:`~irtui.core.actions.collect`).

Every change goes plan → (confirmation by the front) → :meth:`Responder.execute`, which
streams events, verifies by reading the host's firewall back, and writes the audit trail.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irtui.core.actions import block, isolate, status
from irtui.core.actions.context import ActionContext
from irtui.core.actions.profiles import HostProfile, ProfileCache
from irtui.core.actions.reads import HostRead, Outcome, each_host, read_host, read_many
from irtui.core.actions.runner import SSHRunner
from irtui.core.audit import result_not_recorded
from irtui.core.durations import parse_ttl
from irtui.core.errors import AuditError, IrtuiError
from irtui.core.events import Event, EventSink, PlanResult
from irtui.core.executor import execute
from irtui.core.firewall.state import HostState
from irtui.core.gcpause import gc_paused
from irtui.core.plan import Plan
from irtui.core.record.recorder import IncidentRecorder
from irtui.core.record.trail import AuditTrail, track_action, with_parameters
from irtui.core.rollback import RollbackTimer
from irtui.core.settings import Config
from irtui.core.ssh import SSHPool

if TYPE_CHECKING:  # notify, collect and record load when first used (start-up of every CLI verb)
    from irtui.core.actions import record
    from irtui.core.notify.dispatch import Outgoing, Preview
    from irtui.core.notify.result import ChannelResult
    from irtui.core.notify.templates import ContextSource, NotifyContext
    from irtui.core.record.drift import HostDrift
    from irtui.core.record.legacy import ImportReport


class Responder:
    """Incident-response actions on the hosts of one config.

    Args:
        config: the loaded config.
        pool: SSH connections (default: a new :class:`SSHPool`).
        audit: the audit trail (default: the incident record, see
            :meth:`IncidentRecorder.for_config`).
    """

    def __init__(self, config: Config, pool: SSHPool | None = None,
                 audit: AuditTrail | None = None) -> None:
        pool = pool or SSHPool(config.ssh)
        self.ctx = ActionContext(config, pool, audit or IncidentRecorder.for_config(config),
                                 ProfileCache(config, pool))

    @property
    def config(self) -> Config:
        """The config this session acts on."""
        return self.ctx.config

    @property
    def pool(self) -> SSHPool:
        """The session's SSH connections."""
        return self.ctx.pool

    @property
    def audit(self) -> AuditTrail:
        """The session's audit trail."""
        return self.ctx.audit

    # ---- reading ----------------------------------------------------------------------

    def profile(self, name: str, refresh: bool = False) -> HostProfile:
        """See :meth:`ActionContext.profile`."""
        return self.ctx.profile(name, refresh)

    def read_state(self, name: str) -> HostState:
        """See :meth:`ActionContext.read_state`."""
        return self.ctx.read_state(name)

    def read_host(self, name: str) -> HostRead:
        """See :func:`irtui.core.actions.reads.read_host` (profile and state, one round
        trip)."""
        return read_host(self.ctx, name)

    def read_many(self, names: Sequence[str],
                  on_result: Callable[[str, Outcome], None] | None = None
                  ) -> dict[str, Outcome]:
        """See :func:`irtui.core.actions.reads.read_many` (all at once, results as each
        host finishes)."""
        return read_many(self.ctx, names, on_result)

    def probe_many(self, names: Sequence[str],
                   on_result: Callable[[str, HostProfile | IrtuiError], None] | None = None
                   ) -> dict[str, HostProfile | IrtuiError]:
        """Probe ``names`` afresh, all at once (see
        :func:`irtui.core.actions.reads.each_host`)."""
        return each_host(self.ctx, names, lambda name: self.profile(name, refresh=True),
                         on_result)

    def rollback_status(self, name: str) -> RollbackTimer:
        """See :func:`irtui.core.actions.status.rollback_status`."""
        return status.rollback_status(self.ctx, name)

    # ---- plans -------------------------------------------------------------------------

    def plan_block(self, targets: Sequence[str], hosts: Sequence[str],
                   ttl: int | str | None = "default") -> Plan:
        """See :func:`irtui.core.actions.block.plan_block`."""
        seconds = self.config.firewall.default_ttl if ttl == "default" else parse_ttl(ttl)
        with gc_paused():  # a feed of 100,000 entries: see irtui.core.gcpause
            plan = block.plan_block(self.ctx, targets, hosts, ttl)
        return with_parameters(self.audit, plan, targets=list(targets), hosts=list(hosts),
                               ttl=ttl, ttl_s=seconds)

    def plan_unblock(self, targets: Sequence[str], hosts: Sequence[str]) -> Plan:
        """See :func:`irtui.core.actions.block.plan_unblock`."""
        with gc_paused():
            plan = block.plan_unblock(self.ctx, targets, hosts)
        return with_parameters(self.audit, plan, targets=list(targets), hosts=list(hosts))

    def plan_isolate(self, hosts: Sequence[str], *, confirm_timeout: int | None = None,
                     extra_management: Sequence[str] = (), keep_session_address: bool = True,
                     canary: str | None = None) -> Plan:
        """See :func:`irtui.core.actions.isolate.plan_isolate`."""
        plan = isolate.plan_isolate(self.ctx, hosts, confirm_timeout=confirm_timeout,
                                    extra_management=extra_management,
                                    keep_session_address=keep_session_address, canary=canary)
        return with_parameters(self.audit, plan, hosts=list(hosts),
                               confirm_timeout=confirm_timeout,
                               extra_management=list(extra_management),
                               keep_session_address=keep_session_address, canary=canary)

    def plan_release(self, hosts: Sequence[str]) -> Plan:
        """See :func:`irtui.core.actions.isolate.plan_release`."""
        return with_parameters(self.audit, isolate.plan_release(self.ctx, hosts),
                               hosts=list(hosts))

    def plan_collect(self, hosts: Sequence[str], *, artifacts: Sequence[str] | None = None,
                     volatile_only: bool = False, incident: str | None = None,
                     then: Plan | None = None) -> Plan:
        """See :func:`irtui.core.actions.collect.plan_collect`; the evidence is filed under
        ``incident``, else the incident this session records in."""
        if incident is None and isinstance(self.ctx.audit, IncidentRecorder):
            incident = self.ctx.audit.incident_for("collect")
        from irtui.core.actions import collect

        return collect.plan_collect(self.ctx, hosts, artifacts, volatile_only, incident, then)

    # ---- execution ---------------------------------------------------------------------

    def execute(self, plan: Plan, on_event: EventSink,
                cancel: threading.Event | None = None) -> PlanResult:
        """Execute ``plan`` (see :func:`irtui.core.executor.execute`), recording in the
        audit trail the plan, each step as it starts and ends, every change of a rollback
        timer as it happens (so a process killed mid-way leaves a trail of how far it got),
        every output line, and the result.

        Args:
            plan: from one of the ``plan_*`` methods.
            on_event: ``on_event(event)`` called from worker threads. If it raises (e.g. the
                terminal is gone), the action and its record carry on without it.
            cancel: set it to stop: no new remote step starts and running read-only
                commands are cut; an isolation leaves each host in a known state (see
                :mod:`irtui.core.actions.commit`). The result then says ``interrupted``.

        Returns:
            The :class:`PlanResult`.
        """
        track = track_action(self.audit, plan)
        front_ok = [True]

        def sink(event: Event) -> None:
            # A trail that cannot be written must not derail a host half-way (e.g. report a
            # confirmed isolation as failed): the run goes on, and writing the result below
            # raises the AuditError that names the problem.
            with contextlib.suppress(AuditError):
                track.event(event)
            if front_ok[0]:
                try:
                    on_event(event)
                except Exception:  # a broken front must not stop the action or its record
                    front_ok[0] = False

        hosts = {name: self.config.host(name) for name in plan.hosts}
        try:
            result = execute(plan, SSHRunner(self.pool, hosts), sink, cancel,
                             max_parallel=self.config.ssh.max_parallel)
        finally:
            self.pool.held.release()  # sessions kept for hosts with nothing to do
        try:
            track.finish(result)
        except AuditError as exc:  # hosts ran: never "nothing was changed" now
            reason = exc.problem.removesuffix("; nothing was changed")
            raise result_not_recorded(result, reason) from None
        return result

    # ---- notifications -------------------------------------------------------------------

    def notify(self, out: Outgoing, channels: Sequence[str] = ()) -> list[ChannelResult]:
        """See :func:`irtui.core.actions.notify.send`."""
        from irtui.core.actions import notify

        return notify.send(self.ctx, out, channels)

    def notify_preview(self, out: Outgoing, channels: Sequence[str] = ()) -> list[Preview]:
        """See :func:`irtui.core.actions.notify.preview`."""
        from irtui.core.actions import notify

        return notify.preview(self.ctx, out, channels)

    def notify_problems(self, channels: Sequence[str] = ()) -> list[ChannelResult]:
        """See :func:`irtui.core.actions.notify.problems`."""
        from irtui.core.actions import notify

        return notify.problems(self.ctx, channels)

    def notify_context(self, source: ContextSource | None = None) -> NotifyContext:
        """See :func:`irtui.core.actions.notify.incident_context`."""
        from irtui.core.actions import notify

        return notify.incident_context(self.ctx, source)

    def render_template(self, template: str = "",
                        context: NotifyContext | None = None) -> tuple[str, str]:
        """See :func:`irtui.core.actions.notify.render`."""
        from irtui.core.actions import notify

        return notify.render(self.ctx, template, context)

    # ---- the incident record ---------------------------------------------------------

    @property
    def recorder(self) -> IncidentRecorder:
        """The incident record of this session (see :func:`record.recorder_of`)."""
        from irtui.core.actions import record

        return record.recorder_of(self.ctx)

    def verify_record(self, incident: str | None = None) -> record.Verification:
        """See :func:`irtui.core.actions.record.verify_record`."""
        from irtui.core.actions import record

        return record.verify_record(self.ctx, incident)

    def export_record(self, incident: str | None = None) -> list[dict[str, Any]]:
        """See :func:`irtui.core.actions.record.export_records`."""
        from irtui.core.actions import record

        return record.export_records(self.ctx, incident)

    def drift(self, hosts: Sequence[str] = ()) -> list[HostDrift]:
        """See :func:`irtui.core.actions.record.check_drift`."""
        from irtui.core.actions import record

        return record.check_drift(self.ctx, hosts)

    def drift_of(self, states: Mapping[str, HostState]) -> dict[str, HostDrift]:
        """See :func:`irtui.core.actions.record.drift_of` (no read, no record)."""
        from irtui.core.actions import record

        return record.drift_of(self.ctx, states)

    def plan_reapply(self, drifts: Sequence[HostDrift]) -> list[Plan]:
        """See :func:`irtui.core.actions.record.plan_reapply`."""
        from irtui.core.actions import record

        return record.plan_reapply(self.ctx, drifts)

    def write_report(self, incident: str, out_dir: Path, *, detected_at: str | None = None,
                     conclusion: str = "", drill: Mapping[str, Any] | None = None
                     ) -> tuple[Path, Path]:
        """See :func:`irtui.core.actions.record.report`."""
        from irtui.core.actions import record

        return record.report(self.ctx, incident, out_dir, detected_at=detected_at,
                             conclusion=conclusion, drill=drill)

    def import_legacy(self, directory: Path | None = None,
                      incident: str | None = None) -> tuple[str, ImportReport]:
        """See :func:`irtui.core.actions.record.import_legacy`."""
        from irtui.core.actions import record

        return record.import_legacy(self.ctx, directory, incident)

    def discard(self, plan: Plan) -> None:
        """``plan`` will not be carried out (declined): close the SSH sessions its reads kept
        for the change (:mod:`irtui.core.ssh_hold`); nothing runs on them."""
        for host in plan.hosts:
            self.pool.held.release(host)

    def close(self) -> None:
        """Close SSH connections."""
        self.pool.close()
