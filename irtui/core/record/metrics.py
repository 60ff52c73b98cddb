"""What a report measures, from an incident's actions: successes vs failures, time to
contain per host, time to notify, hosts contained; and the facts behind them (blocks placed
with their TTL, isolation periods, notifications).

Times to contain and notify start at the detection time given to the report
(``--detected-at``), else the one given when the incident was opened, else the opening.
A host counts as contained from its first block or isolation that succeeded there (read
back from the host, see :class:`~irtui.core.events.Outcome`): a failed, interrupted or
refused action never stops the clock (a host whose isolation such a run applied is named
apart, never "never contained").

Runs stopped by an error before any change (:mod:`.stops`: refused input, an unreachable
host while planning) are not actions: they are counted apart, so the totals and the
timeline agree. Dry runs are not actions either: a successful one records nothing, so the
ones stopped by an error are counted on their own, in no other figure.

Isolation periods: see :mod:`.isolations` (every isolation the record shows applied).

Blocks: every entry blocked at some point, each with what became of it by the report's
time (unblocked, expired, or still *intended*: the record holds what irtui meant to be
true; the firewall's live state is what ``irtui drift`` reads).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from irtui.core.firewall.fastnet import network_from_text
from irtui.core.record.drift import recorded_ttl
from irtui.core.record.incidents import Incident
from irtui.core.record.isolations import IsolationPeriod, isolations_of
from irtui.core.record.stops import Stop, StopKind
from irtui.core.record.store import Record
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


class BlockState(enum.Enum):
    """What became of a block by the report's time, per the record."""

    INTENDED = "intended blocked"
    """Neither unblocked nor expired on at least one host: irtui means it to be blocked."""
    UNBLOCKED = "unblocked"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    """Not unblocked, but its TTL was not recorded: it may have expired."""


@dataclass(frozen=True)
class BlockRow:
    """One entry blocked on some hosts by one action.

    Attributes:
        entry: the address or prefix (``203.0.113.9/32``).
        hosts: where it was placed (the hosts whose result succeeded).
        ttl_s: its TTL in seconds; None for permanent, ``"unknown"`` when the plan did not
            say.
        placed_at, expires_at: UTC times (``expires_at`` None: permanent or unknown).
        unblocked: ``(host, UTC time)`` of each later successful unblock of it.
        state: what became of it by the report's time; ``ended_at`` when it was unblocked
            everywhere or expired; ``intended_hosts`` where it is still meant to be blocked.
    """

    entry: str
    hosts: tuple[str, ...]
    ttl_s: int | str | None
    placed_at: str
    expires_at: str | None
    unblocked: tuple[tuple[str, str], ...] = ()
    state: BlockState = BlockState.INTENDED
    ended_at: str | None = None
    intended_hosts: tuple[str, ...] = ()

    @property
    def removed_at(self) -> str | None:
        """When the last of its hosts was unblocked (None while any host is not)."""
        done = {h for h, _ in self.unblocked}
        return max(ts for _, ts in self.unblocked) if done >= set(self.hosts) else None

    def at(self, now: datetime) -> BlockRow:
        """This row with ``state``, ``ended_at`` and ``intended_hosts`` as of ``now``."""
        removed = self.removed_at
        expired = self.expires_at is not None and parse_time(self.expires_at) <= now
        if removed and not (expired and self.expires_at and self.expires_at < removed):
            return replace(self, state=BlockState.UNBLOCKED, ended_at=removed,
                           intended_hosts=())
        if expired:
            return replace(self, state=BlockState.EXPIRED, ended_at=self.expires_at,
                           intended_hosts=())
        done = {h for h, _ in self.unblocked}
        left = tuple(h for h in self.hosts if h not in done)
        state = BlockState.UNKNOWN if self.ttl_s == "unknown" else BlockState.INTENDED
        return replace(self, state=state, ended_at=None, intended_hosts=left)


@dataclass
class Metrics:
    """The figures of one incident (times in seconds)."""

    start: str
    start_source: str
    actions: int = 0
    succeeded: int = 0
    failed: int = 0
    interrupted: int = 0
    refused: int = 0
    """Real runs (not dry runs) refused before any change: bad input (IOC, TTL, feed,
    host), a wrong host key, a bad config."""
    not_run: int = 0
    """Real runs stopped by another error before any change."""
    dry_run_stops: int = 0
    """Dry runs stopped by an error (counted in nothing else: a dry run changes nothing,
    and one that succeeds is not recorded)."""
    at: str = ""
    host_results_ok: int = 0
    host_results_failed: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0
    time_to_notify_s: float | None = None
    hosts: list[HostMetrics] = field(default_factory=list)
    blocks: list[BlockRow] = field(default_factory=list)
    isolations: list[IsolationPeriod] = field(default_factory=list)
    uncontained: list[str] = field(default_factory=list)
    """Hosts a block or isolation targeted (not skipped) that no such action contained and
    the record shows no isolation of."""
    isolated_unverified: list[str] = field(default_factory=list)
    """Hosts not counted as contained (no successful block or isolation result) although
    the record shows an isolation applied there (an interrupted or unconfirmed run; see
    :attr:`isolations`)."""
    stops: list[Stop] = field(default_factory=list)
    """Runs stopped by an error (``refused`` + ``not_run`` changed nothing)."""
    start_after: str | None = None
    """The first containment or notification recorded before :attr:`start` (its time), or
    None. Its time to contain/notify is then unknown, not negative: the start is wrong,
    most often a local detection time read as UTC."""

    def since_start(self, ts: str) -> float | None:
        """Seconds from :attr:`start` to record time ``ts``; None (and
        :attr:`start_after` set) when ``ts`` is earlier."""
        seconds = seconds_between(self.start, ts)
        if seconds >= 0:
            return seconds
        self.start_after = min(self.start_after or ts, ts)
        return None

    @property
    def intended_blocks(self) -> list[BlockRow]:
        """Blocks still meant to be in force at :attr:`at` (per the record, not live)."""
        return [b for b in self.blocks if b.state is BlockState.INTENDED]

    @property
    def unknown_blocks(self) -> list[BlockRow]:
        """Blocks not unblocked whose TTL was not recorded (they may have expired)."""
        return [b for b in self.blocks if b.state is BlockState.UNKNOWN]

    @property
    def hosts_contained(self) -> int:
        """Hosts with at least one successful block or isolation."""
        return sum(h.contained_at is not None for h in self.hosts)

    @property
    def time_to_contain_s(self) -> float | None:
        """Time until the last host was contained (the incident's time to contain); None
        when unknown (no host contained, or one contained before :attr:`start`)."""
        if self.start_after is not None:
            return None
        times = [h.time_to_contain_s for h in self.hosts if h.time_to_contain_s is not None]
        return max(times) if times else None


def _net(text: str) -> str:
    try:
        return str(network_from_text(text))  # = ip_network(text, strict=False), faster
    except ValueError:
        return text


def _unblocks(actions: Sequence[Action]) -> list[tuple[str, str, str]]:
    """``(entry, host, UTC time)`` of every successful unblock, in time order."""
    out = []
    for action in actions:
        if action.action != "unblock" or action.kind != "plan":
            continue
        intent = action.record.get("intent", {})
        for host, result in action.results.items():
            if result.ok:
                out += [(_net(e), host, result.ts) for e in intent.get(host, {}).get("unblock", [])]
    return sorted(set(out), key=lambda u: u[2])


def _blocks(actions: Sequence[Action], later: Sequence[Action], now: datetime) -> list[BlockRow]:
    rows: list[BlockRow] = []
    for action in actions:
        if action.action != "block" or action.kind != "plan":
            continue
        intent = action.record.get("intent", {})
        # one row per entry and TTL: a host that already held the entry longer kept its TTL
        per_entry: dict[tuple[str, int | str | None], list[str]] = {}
        for host, result in action.results.items():
            if result.ok:
                for entry in intent.get(host, {}).get("block", []):
                    ttl = recorded_ttl(intent.get(host, {}), entry)
                    per_entry.setdefault((entry, ttl), []).append(host)
        placed = action.end or action.ts
        rows += [BlockRow(entry, tuple(sorted(hosts)), ttl, placed,
                          utc_stamp(parse_time(placed) + timedelta(seconds=ttl))
                          if isinstance(ttl, int) and ttl else None)
                 for (entry, ttl), hosts in per_entry.items()]
    # each unblock ends, on its host, every earlier row of its entry not yet ended there;
    # rows are looked up by entry (a feed's 100,000 blocks and unblocks: linear, not N²)
    by_entry: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_entry.setdefault(_net(row.entry), []).append(i)
    ended: dict[int, dict[str, str]] = {}  # row → {host: when its first later unblock was}
    seen = {a.id for a in actions}
    for entry, host, ts in _unblocks([*actions, *(a for a in later if a.id not in seen)]):
        for i in by_entry.get(entry, ()):
            row = rows[i]
            if host in row.hosts and row.placed_at <= ts and host not in ended.get(i, {}):
                ended.setdefault(i, {})[host] = ts
    return [(replace(r, unblocked=tuple(ended[i].items())) if i in ended else r).at(now)
            for i, r in enumerate(rows)]


def compute(incident: Incident, actions: Sequence[Action],
            detected_at: str | None = None, *, stops: Sequence[Stop] = (),
            later: Sequence[Action] = (), now: datetime | None = None,
            records: Sequence[Record] = ()) -> Metrics:
    """The metrics of ``incident`` from its ``actions`` (see
    :func:`~irtui.core.record.timeline.actions_of`).

    Args:
        detected_at: UTC record time to measure from (already parsed by the caller).
        stops: its runs stopped by an error (:func:`~irtui.core.record.stops.stops_of`).
        later: actions of the whole record (every incident), so an unblock recorded in
            another incident ends this incident's block too; default none.
        now: the report's time (aware, UTC) for expiries; default now.
        records: the incident's records (chain order), for the isolations' steps and
            rollback timers; default none (isolations from host results only).
    """
    now = now or datetime.now(UTC)
    if detected_at:
        start, source = detected_at, "detection time given to the report"
    elif incident.detected_at:
        start, source = incident.detected_at, "detection time given when the incident was opened"
    else:
        start, source = incident.opened_at, "opening of the incident"
    m = Metrics(start, source, actions=len(actions), at=utc_stamp(now), stops=list(stops))
    for stop in stops:
        if stop.dry_run:
            m.dry_run_stops += 1
            continue
        m.refused += stop.kind is StopKind.REFUSED
        m.not_run += stop.kind is StopKind.NOT_RUN
        if stop.kind is StopKind.FAILED and stop.action_id is None:
            m.actions += 1  # a failure no recorded action accounts for
            m.failed += 1
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
                    m.time_to_notify_s = m.since_start(action.ts)
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
                hm.time_to_contain_s = m.since_start(result.ts)
    m.hosts = sorted(hosts.values(), key=lambda h: h.host)
    targeted = {h for a in actions if a.action in CONTAINING and a.kind == "plan"
                for h in a.hosts if h not in a.record.get("skipped", {})}
    m.isolations = isolations_of(actions, records)
    isolated = {p.host for p in m.isolations}
    never = [h.host for h in m.hosts if h.host in targeted and not h.contained_at]
    m.uncontained = [h for h in never if h not in isolated]
    m.isolated_unverified = [h for h in never if h in isolated]
    m.blocks = _blocks(actions, later, now)
    return m
