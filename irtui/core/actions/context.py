"""What every action works with: the config, the SSH pool, the audit trail and the host
profiles, plus the reads and host selection they all need."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from irtui.core.actions.profiles import HostProfile, ProfileCache
from irtui.core.actions.reads import Prefetch, prefetched, read_host
from irtui.core.errors import ActionError, InvalidTargetError, SSHError
from irtui.core.firewall.state import HostState
from irtui.core.hostlock import LOCK_WAIT_SECONDS
from irtui.core.plan import Plan
from irtui.core.record.trail import AuditTrail
from irtui.core.settings import Config, HostConfig
from irtui.core.ssh import SSHPool


@dataclass
class ActionContext:
    """The shared pieces of one irtui session (one TUI run or one CLI command).

    ``lock_wait``: seconds a change waits for another irtui change on the same host before
    failing with "host busy" (see :mod:`irtui.core.hostlock`).
    """

    config: Config
    pool: SSHPool
    audit: AuditTrail
    profiles: ProfileCache
    lock_wait: float = LOCK_WAIT_SECONDS
    prefetch: Prefetch = field(default_factory=Prefetch, repr=False, compare=False)

    def profile(self, name: str, refresh: bool = False) -> HostProfile:
        """``name``'s preflight profile (probed, then cached while fresh; see
        :class:`ProfileCache`); while a plan is built, the one read with its state
        (:func:`~irtui.core.actions.reads.prefetched`)."""
        got = None if refresh else self.prefetch.profile(name, self.profiles.fresh(name))
        return got if got is not None else self.profiles.get(name, refresh)

    def changeable(self, name: str) -> HostProfile:
        """``name``'s profile, for planning a change there.

        Raises:
            ActionError: irtui's own state is in two firewall backends on the host, or
                in another one than the config forces (see
                :func:`~irtui.core.firewall.detect.choose_backend`): a change through one
                would leave the other's blocks or isolation unseen, so none is made.
            UnknownHostError, SSHError, HostKeyError: while probing.
        """
        profile = self.profile(name)
        choice = profile.choice
        if choice.conflict:
            why = (f"a change through {choice.name} would not see irtui's blocks and "
                   "isolation already on the host" if choice.config_conflict
                   else "one backend's blocks or isolation would be hidden from the other")
            raise ActionError(f"{name}: {choice.conflict}; refusing to change it ({why})",
                              f"{choice.conflict_fix}; nothing was changed")
        return profile

    def read_state(self, name: str) -> HostState:
        """Read ``name``'s firewall with its backend and return the live state (one round
        trip, the preflight probe included when due: see :mod:`~irtui.core.actions.reads`).

        Raises:
            UnknownHostError, SSHError, HostKeyError, ActionError.
        """
        got = self.prefetch.state(name)
        return got if got is not None else read_host(self, name).state

    def select(self, hosts: Sequence[str]) -> list[HostConfig]:
        """Resolve host names, ``@group`` or ``all`` to hosts.

        Raises:
            InvalidTargetError: nothing given; UnknownHostError: a name matches nothing.
        """
        chosen = self.config.select(list(hosts)) if hosts else []
        if not chosen:
            raise InvalidTargetError("no host given", "name a host, @group or 'all' (CLI: --on)")
        return chosen


def plan_each(plan: Plan, chosen: list[HostConfig], one: Callable[[HostConfig], None],
              ctx: ActionContext | None = None, hold: bool = False) -> None:
    """Plan each host with ``one(host)``. With several hosts, one host's read failure
    (unreachable, key refused, tool missing) is recorded as that host's failure in
    ``plan.failed`` instead of stopping the others; with a single host the error propagates
    as the one clear message. With ``ctx``, every host is read at once first (probe and
    firewall, see :func:`~irtui.core.actions.reads.prefetched`) and ``one`` runs on those
    reads, host after host (``hold``: their sessions are kept for the change, see
    :func:`~irtui.core.actions.reads.prefetched`)."""
    if ctx is None:
        _plan_each(plan, chosen, one)
        return
    with prefetched(ctx, [h.name for h in chosen], hold):
        _plan_each(plan, chosen, one)


def _plan_each(plan: Plan, chosen: list[HostConfig], one: Callable[[HostConfig], None]) -> None:
    for host in chosen:
        try:
            one(host)
        except (SSHError, ActionError) as exc:
            if len(chosen) == 1:
                raise
            plan.failed[host.name] = exc.line


def settle_refusals(plan: Plan, held: dict[str, str], verb: str, fix: str) -> None:
    """Settle the hosts of a block or unblock plan where every requested entry was refused
    (``held``: host → why, e.g. "the host's own address", "stays blocked by a wider
    entry"). When no host has anything to do, the whole request is refused; otherwise each
    held host reports its refusal as its failure, so a host that did nothing of what was
    asked never reads as a ✓ "unchanged" while the others go ahead.

    Raises:
        InvalidTargetError: no host has a step or a planning failure, and some requested
            entry was refused (the message names up to five, with their reasons).
    """
    if not plan.steps and not plan.failed:
        refused = sorted({f"{entry} {status}" for per_host in plan.entries.values()
                          for entry, status in per_host.items() if status.refused})
        if refused:
            more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
            raise InvalidTargetError(f"nothing to {verb}: " + "; ".join(refused[:5]) + more,
                                     fix)
    plan.failed.update(held)
