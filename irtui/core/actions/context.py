"""What every action works with: the config, the SSH pool, the audit trail and the host
profiles, plus the reads and host selection they all need."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from irtui.core.actions.profiles import HostProfile, ProfileCache
from irtui.core.actions.runner import run_read
from irtui.core.errors import ActionError, InvalidTargetError, SSHError
from irtui.core.firewall.state import HostState
from irtui.core.plan import Plan
from irtui.core.record.trail import AuditTrail
from irtui.core.settings import Config, HostConfig
from irtui.core.ssh import SSHPool


@dataclass
class ActionContext:
    """The shared pieces of one irtui session (one TUI run or one CLI command)."""

    config: Config
    pool: SSHPool
    audit: AuditTrail
    profiles: ProfileCache

    def profile(self, name: str, refresh: bool = False) -> HostProfile:
        """``name``'s preflight profile (probed once, cached; see :class:`ProfileCache`)."""
        return self.profiles.get(name, refresh)

    def read_state(self, name: str) -> HostState:
        """Read ``name``'s firewall with its backend and return the live state.

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        host = self.config.host(name)
        backend = self.profile(name).backend
        text = run_read(self.pool, host, backend.read_command(),
                        timeout=self.config.ssh.connect_timeout * 3 + 30)
        return backend.parse_state(name, text)

    def select(self, hosts: Sequence[str]) -> list[HostConfig]:
        """Resolve host names, ``@group`` or ``all`` to hosts.

        Raises:
            InvalidTargetError: nothing given; UnknownHostError: a name matches nothing.
        """
        chosen = self.config.select(list(hosts)) if hosts else []
        if not chosen:
            raise InvalidTargetError("no host given", "name a host, @group or 'all' (CLI: --on)")
        return chosen


def plan_each(plan: Plan, chosen: list[HostConfig], one: Callable[[HostConfig], None]) -> None:
    """Plan each host with ``one(host)``. With several hosts, one host's read failure
    (unreachable, key refused, tool missing) is recorded as that host's failure in
    ``plan.failed`` instead of stopping the others; with a single host the error propagates
    as the one clear message."""
    for host in chosen:
        try:
            one(host)
        except (SSHError, ActionError) as exc:
            if len(chosen) == 1:
                raise
            plan.failed[host.name] = exc.line
