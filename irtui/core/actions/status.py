"""Reading hosts without changing them: live firewall state and the rollback timer."""

from __future__ import annotations

from irtui.core.actions.context import ActionContext
from irtui.core.actions.runner import run_read
from irtui.core.rollback import RollbackTimer, parse_status, status_command


def rollback_status(ctx: ActionContext, name: str) -> RollbackTimer:
    """The host's rollback timer, read from the host.

    Raises:
        UnknownHostError, SSHError, HostKeyError, ActionError.
    """
    return parse_status(run_read(ctx.pool, ctx.config.host(name), status_command(name)))
