"""What a report measures, from an incident's actions: successes vs failures, time to
contain per host, time to notify, hosts contained; and the facts behind them (blocks placed
with their TTL, isolation periods, notifications).

Times to contain and notify start at the detection time given to the report
(``--detected-at``), else the one given when the incident was opened, else the opening.
A host counts as contained from its first block or isolation that succeeded there (read
back from the host, see :class:`~irtui.core.events.Outcome`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from irtui.core.record.incidents import Incident
from irtui.core.record.timeline import INTERRUPTED, Action
from irtui.core.record.times import parse_time, seconds_between, utc_stamp

CONTAINING = ("block", "isolate")


@dataclass
class HostMetrics:
    """One host: when it was first contained, and how many actions there went how."""

    host: str
    contained_at: str | None = None
    time_to_contain_s: float | None = None
    first_block: str | None = None
    first_isolation: str | None = None
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class BlockRow:
    """One entry blocked on some hosts by one action, with its TTL (seconds; None for
    permanent, ``"unknown"`` when the plan did not say) and when it ends."""

    entry: str
    hosts: tuple[str, ...]
    ttl_s: int | str | None
    placed_at: str
    expires_at: str | None
    removed_at: str | None = None


@dataclass(frozen=True)
class IsolationPeriod:
    """A host isolated from ``start`` until ``end`` (None: still isolated)."""

    host: str
    start: str
    end: str | None

    @property
    def seconds(self) -> float | None:
        """Length of the period (None while it lasts)."""
        return seconds_between(self.start, self.end) if self.end else None


@dataclass
class Metrics:
    """The figures of one incident (times in seconds)."""

    start: str
    start_source: str
    actions: int = 0
    succeeded: int = 0
    failed: int = 0
    interrupted: int = 0
    host_results_ok: int = 0
    host_results_failed: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0
    time_to_notify_s: float | None = None
    hosts: list[HostMetrics] = field(default_factory=list)
    blocks: list[BlockRow] = field(default_factory=list)
    isolations: list[IsolationPeriod] = field(default_factory=list)

    @property
    def hosts_contained(self) -> int:
        """Hosts with at least one successful block or isolation."""
        return sum(h.contained_at is not None for h in self.hosts)

    @property
    def time_to_contain_s(self) -> float | None:
        """Time until the last host was contained (the incident's time to contain)."""
        times = [h.time_to_contain_s for h in self.hosts if h.time_to_contain_s is not None]
        return max(times) if times else None


def _blocks(actions: Sequence[Action]) -> list[BlockRow]:
    rows: list[BlockRow] = []
    for action in actions:
        if action.action == "unblock" and action.kind == "plan":
            entries = action.record.get("entries", {})
            gone = {e for h, r in action.results.items() if r.ok for e in entries.get(h, {})}
            rows = [replace(r, removed_at=action.end)
                    if r.removed_at is None and r.entry in gone else r for r in rows]
        if action.action != "block" or action.kind != "plan":
            continue
        intent = action.record.get("intent", {})
        per_entry: dict[str, list[str]] = {}
        ttl: int | str | None = "unknown"
        for host, result in action.results.items():
            if result.ok:
                for entry in intent.get(host, {}).get("block", []):
                    per_entry.setdefault(entry, []).append(host)
                ttl = intent.get(host, {}).get("ttl_s", "unknown")
        placed = action.end or action.ts
        expires = (utc_stamp(parse_time(placed) + timedelta(seconds=ttl))
                   if isinstance(ttl, int) else None)
        rows += [BlockRow(entry, tuple(sorted(hosts)), ttl, placed, expires)
                 for entry, hosts in per_entry.items()]
    return rows


def _isolations(actions: Sequence[Action]) -> list[IsolationPeriod]:
    open_since: dict[str, str] = {}
    periods: list[IsolationPeriod] = []
    for action in actions:
        for host, result in action.results.items():
            if not result.ok or result.outcome == "unchanged":
                continue
            if action.action == "isolate":
                open_since.setdefault(host, result.ts)
            elif action.action == "release" and host in open_since:
                periods.append(IsolationPeriod(host, open_since.pop(host), result.ts))
    periods += [IsolationPeriod(h, since, None) for h, since in open_since.items()]
    return sorted(periods, key=lambda p: (p.start, p.host))


def compute(incident: Incident, actions: Sequence[Action],
            detected_at: str | None = None) -> Metrics:
    """The metrics of ``incident`` from its ``actions`` (see
    :func:`~irtui.core.record.timeline.actions_of`).

    Args:
        detected_at: UTC record time to measure from (already parsed by the caller).
    """
    if detected_at:
        start, source = detected_at, "detection time given to the report"
    elif incident.detected_at:
        start, source = incident.detected_at, "detection time given when the incident was opened"
    else:
        start, source = incident.opened_at, "opening of the incident"
    m = Metrics(start, source, actions=len(actions))
    hosts: dict[str, HostMetrics] = {}
    for action in actions:
        if action.ok:
            m.succeeded += 1
        elif action.outcome == INTERRUPTED:
            m.interrupted += 1
        else:
            m.failed += 1
        if action.action == "notify":
            if action.ok:
                m.notifications_sent += 1
                if m.time_to_notify_s is None:
                    m.time_to_notify_s = seconds_between(start, action.ts)
            else:
                m.notifications_failed += 1
        for host in action.hosts:
            hosts.setdefault(host, HostMetrics(host))
        for host, result in action.results.items():
            hm = hosts.setdefault(host, HostMetrics(host))
            m.host_results_ok += result.ok
            m.host_results_failed += not result.ok
            hm.succeeded += result.ok
            hm.failed += not result.ok
            if not result.ok or action.action not in CONTAINING:
                continue
            if action.action == "block" and hm.first_block is None:
                hm.first_block = result.ts
            if action.action == "isolate" and hm.first_isolation is None:
                hm.first_isolation = result.ts
            if hm.contained_at is None:
                hm.contained_at = result.ts
                hm.time_to_contain_s = seconds_between(start, result.ts)
    m.hosts = sorted(hosts.values(), key=lambda h: h.host)
    m.blocks = _blocks(actions)
    m.isolations = _isolations(actions)
    return m
