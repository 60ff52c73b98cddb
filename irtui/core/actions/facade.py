"""The action API both fronts call: one object per session, delegating to one module per
capability (:mod:`~irtui.core.actions.block`, :mod:`~irtui.core.actions.isolate`,
:mod:`~irtui.core.actions.status`, :mod:`~irtui.core.actions.notify`).

Every change goes plan → (confirmation by the front) → :meth:`Responder.execute`, which
streams events, verifies by reading the host's firewall back, and writes the audit trail.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from irtui.core.actions import block, isolate, notify, status
from irtui.core.actions.context import ActionContext
from irtui.core.actions.profiles import HostProfile, ProfileCache
from irtui.core.actions.runner import SSHRunner
from irtui.core.audit import AuditLog
from irtui.core.events import Event, EventSink, OutputLine, PlanResult
from irtui.core.executor import execute
from irtui.core.firewall.state import HostState
from irtui.core.notify.dispatch import Outgoing, Preview
from irtui.core.notify.result import ChannelResult
from irtui.core.notify.templates import ContextSource, NotifyContext
from irtui.core.plan import Plan
from irtui.core.rollback import RollbackTimer
from irtui.core.settings import Config
from irtui.core.ssh import SSHPool


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
        """Execute ``plan`` (see :func:`irtui.core.executor.execute`), recording the plan,
        every output line and the result in the audit trail.

        Args:
            plan: from one of the ``plan_*`` methods.
            on_event: ``on_event(event)`` called from worker threads.
            cancel: set it to stop; running channels are closed.

        Returns:
            The :class:`PlanResult`.
        """
        self.audit.plan(plan)

        def sink(event: Event) -> None:
            if isinstance(event, OutputLine):
                self.audit.output(event)
            on_event(event)

        hosts = {name: self.config.host(name) for name in plan.hosts}
        result = execute(plan, SSHRunner(self.pool, hosts), sink, cancel)
        self.audit.result(result)
        return result

    # ---- notifications -------------------------------------------------------------------

    def notify(self, out: Outgoing, channels: Sequence[str] = ()) -> list[ChannelResult]:
        """See :func:`irtui.core.actions.notify.send`."""
        return notify.send(self.ctx, out, channels)

    def notify_preview(self, out: Outgoing, channels: Sequence[str] = ()) -> list[Preview]:
        """See :func:`irtui.core.actions.notify.preview`."""
        return notify.preview(self.ctx, out, channels)

    def notify_problems(self, channels: Sequence[str] = ()) -> list[ChannelResult]:
        """See :func:`irtui.core.actions.notify.problems`."""
        return notify.problems(self.ctx, channels)

    def notify_context(self, source: ContextSource | None = None) -> NotifyContext:
        """See :func:`irtui.core.actions.notify.incident_context`."""
        return notify.incident_context(self.ctx, source)

    def render_template(self, template: str = "",
                        context: NotifyContext | None = None) -> tuple[str, str]:
        """See :func:`irtui.core.actions.notify.render`."""
        return notify.render(self.ctx, template, context)

    def close(self) -> None:
        """Close SSH connections."""
        self.pool.close()
