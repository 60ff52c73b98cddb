"""A block or unblock confirmed long after its plan was built is planned again before it
runs.

The guardrails (the host's own addresses, its default gateways) rest on facts read when the
plan was built; the core trusts them for :data:`~irtui.core.actions.profiles.PLAN_PROFILE_MAX_AGE`
seconds. A confirmation that waited longer (the responder reading the plan) gets a fresh
plan: the same outcome runs at once, a different one (e.g. a gateway added meanwhile is now
refused) is shown for confirmation again.
"""

from __future__ import annotations

from irtui.core.actions.profiles import PLAN_PROFILE_MAX_AGE
from irtui.core.plan import Plan

REPLANNED = frozenset({"block", "unblock"})
"""Actions whose plan rests on facts read when it was built: a block on the guardrails'
(the host's own addresses and gateways), an unblock on the entries that would still cover
its targets (a wider entry added meanwhile keeps the traffic cut: the new plan says so
before it runs; the read-back would fail it after). A release gives traffic back whatever
was added; an isolation's commands carry their time, and its commit-confirm undoes a lost
session."""


def stale(plan: Plan, built: float, now: float) -> bool:
    """True when ``plan`` (built at monotonic time ``built``) must be planned again at
    ``now`` before it runs."""
    return plan.action in REPLANNED and now - built > PLAN_PROFILE_MAX_AGE


def outcome(plan: Plan) -> tuple[object, ...]:
    """What a plan will do, without what only time changes (a kept TTL's time left): each
    entry's fate per host, the refusals' reasons, and the hosts failed or skipped."""
    fates = {host: {entry: (status.fate, status.reason if status.refused else "")
                    for entry, status in entries.items()}
             for host, entries in plan.entries.items()}
    return (plan.hosts, fates, sorted(plan.failed), sorted(plan.skipped))
