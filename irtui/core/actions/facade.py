"""The action API both fronts call: one object per session, delegating to one module per
capability (:mod:`~irtui.core.actions.block`, :mod:`~irtui.core.actions.isolate`,
:mod:`~irtui.core.actions.status`, :mod:`~irtui.core.actions.notify`).

Every change goes plan → (confirmation by the front) → :meth:`Responder.execute`, which
streams events, verifies by reading the host's firewall back, and writes the audit trail.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence

from irtui.core.actions import block, isolate, notify, status
from irtui.core.actions.context import ActionContext
from irtui.core.actions.profiles import HostProfile, ProfileCache
from irtui.core.actions.runner import SSHRunner
from irtui.core.audit import AuditLog
from irtui.core.errors import AuditError
from irtui.core.events import (
    Event,
    EventSink,
    OutputLine,
    PlanResult,
    RollbackEvent,
    StepFinished,
    StepStarted,
)
from irtui.core.executor import execute
from irtui.core.firewall.state import HostState
from irtui.core.plan import Plan
from irtui.core.rollback import RollbackTimer
from irtui.core.settings import Config
from irtui.core.ssh import SSHPool


def record(audit: AuditLog, event: Event) -> None:
    """Write what ``event`` tells the audit trail: output lines into the transcript; steps
    (``step`` records) and rollback timer changes (``rollback`` records, with the UTC time
    the host rolls back by itself) into the trail."""
    if isinstance(event, OutputLine):
        audit.output(event)
    elif isinstance(event, StepStarted):
        audit.write("step", host=event.host, purpose=event.purpose, phase="started")
    elif isinstance(event, StepFinished):
        audit.write("step", host=event.host, purpose=event.purpose, phase="finished",
                    exit_code=event.exit_code, duration_s=round(event.duration, 3))
    elif isinstance(event, RollbackEvent):
        fires = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + event.seconds))
                 if event.seconds is not None else None)
        audit.write("rollback", host=event.host, phase=event.phase.value,
                    seconds_left=event.seconds, fires_at=fires, detail=event.detail)


class Responder:
    """Incident-response actions on the hosts of one config.

    Args:
        config: the loaded config.
        pool: SSH connections (default: a new :class:`SSHPool`).
        audit: the audit trail (default: a new session in ``config.resolved_audit_dir``).
    """

    def __init__(self, config: Config, pool: SSHPool | None = None,
                 audit: AuditLog | None = None) -> None:
        pool = pool or SSHPool(config.ssh)
        self.ctx = ActionContext(config, pool, audit or AuditLog(config.resolved_audit_dir),
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
    def audit(self) -> AuditLog:
        """The session's audit trail."""
        return self.ctx.audit

    # ---- reading ----------------------------------------------------------------------

    def profile(self, name: str, refresh: bool = False) -> HostProfile:
        """See :meth:`ActionContext.profile`."""
        return self.ctx.profile(name, refresh)

    def read_state(self, name: str) -> HostState:
        """See :meth:`ActionContext.read_state`."""
        return self.ctx.read_state(name)

    def rollback_status(self, name: str) -> RollbackTimer:
        """See :func:`irtui.core.actions.status.rollback_status`."""
        return status.rollback_status(self.ctx, name)

    # ---- plans -------------------------------------------------------------------------

    def plan_block(self, targets: Sequence[str], hosts: Sequence[str],
                   ttl: int | str | None = "default") -> Plan:
        """See :func:`irtui.core.actions.block.plan_block`."""
        return block.plan_block(self.ctx, targets, hosts, ttl)

    def plan_unblock(self, targets: Sequence[str], hosts: Sequence[str]) -> Plan:
        """See :func:`irtui.core.actions.block.plan_unblock`."""
        return block.plan_unblock(self.ctx, targets, hosts)

    def plan_isolate(self, hosts: Sequence[str], *, confirm_timeout: int | None = None,
                     extra_management: Sequence[str] = (), keep_session_address: bool = True,
                     canary: str | None = None) -> Plan:
        """See :func:`irtui.core.actions.isolate.plan_isolate`."""
        return isolate.plan_isolate(self.ctx, hosts, confirm_timeout=confirm_timeout,
                                    extra_management=extra_management,
                                    keep_session_address=keep_session_address, canary=canary)

    def plan_release(self, hosts: Sequence[str]) -> Plan:
        """See :func:`irtui.core.actions.isolate.plan_release`."""
        return isolate.plan_release(self.ctx, hosts)

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
        self.audit.plan(plan)
        front_ok = [True]

        def sink(event: Event) -> None:
            # A trail that cannot be written must not derail a host half-way (e.g. report a
            # confirmed isolation as failed): the run goes on, and writing the result below
            # raises the AuditError that names the problem.
            with contextlib.suppress(AuditError):
                record(self.audit, event)
            if front_ok[0]:
                try:
                    on_event(event)
                except Exception:  # a broken front must not stop the action or its record
                    front_ok[0] = False

        hosts = {name: self.config.host(name) for name in plan.hosts}
        result = execute(plan, SSHRunner(self.pool, hosts), sink, cancel)
        self.audit.result(result)
        return result

    def notify_email(self, to: Sequence[str], subject: str, body: str) -> str:
        """See :func:`irtui.core.actions.notify.send_email`."""
        return notify.send_email(self.ctx, to, subject, body)

    def close(self) -> None:
        """Close SSH connections."""
        self.pool.close()
