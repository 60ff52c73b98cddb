"""Drift: what the record says irtui meant to be true on each host, against what the host's
firewall says now.

The intended state is folded from the whole record (every incident): a block plan's entries
with their TTL once its host result succeeded, removed by a successful unblock or by their
expiry; isolation from a successful isolate until a successful release. An action that was
interrupted or failed on a host leaves that host's entries *uncertain*: they are neither
reported lost nor unrecorded, but named, so the analyst checks them.

Findings catch what blocklist tools are known to lose (see FIELD-NOTES "The incident
record"): a firewall reload or ``nft flush`` (blocks gone before their expiry), isolation
removed by hand, and entries in irtui's table that irtui never placed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from irtui.core.firewall.state import HostState
from irtui.core.record.store import Record
from irtui.core.record.times import parse_time, utc_stamp

EXPIRY_GRACE_S = 10
"""Blocks due to expire within this many seconds are not reported lost (their natural end)."""
EXPIRY_TOLERANCE_S = 60
"""A live expiry within this many seconds of the intended one is the same (the record's time
is the host result's, a few seconds after the kernel started the timeout)."""


def _net(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return text


@dataclass(frozen=True)
class IntendedBlock:
    """A block irtui placed and has not removed.

    Attributes:
        entry: the address or prefix (``203.0.113.7/32``).
        incident: the incident that placed it; ``action_id`` its plan record.
        placed_at: UTC time of its host result.
        expires_at: UTC time it expires; None when permanent or unknown (``ttl_known``).
    """

    entry: str
    incident: str
    action_id: int
    placed_at: str
    expires_at: str | None
    ttl_known: bool = True


@dataclass
class HostIntent:
    """What the record means to be true on one host."""

    host: str
    blocks: dict[str, IntendedBlock] = field(default_factory=dict)
    isolated_since: str | None = None
    isolation_incident: str = ""
    management: list[str] | None = None
    """What the isolation keeps reachable, as recorded (None: not recorded)."""
    uncertain: dict[str, str] = field(default_factory=dict)
    """entry (or ``isolation``) → why its state is not known (an interrupted action)."""
    settled: dict[str, int] = field(default_factory=dict)
    """entry (or ``isolation``) → seq of the last plan whose result set it here: an
    interrupted plan before that one no longer makes it uncertain."""


def recorded_ttl(host_intent: dict, entry: str) -> int | str | None:
    """The TTL a block plan's host intent records for ``entry``: the one the host kept when
    it already held the entry longer (``ttl_kept``, see ``Plan.kept_ttl``), else the one
    asked (``ttl_s``); seconds, None for permanent, ``"unknown"`` when not recorded."""
    kept = host_intent.get("ttl_kept", {})
    return kept[entry] if entry in kept else host_intent.get("ttl_s", "unknown")


def _apply(intent: HostIntent, plan: dict, host_intent: dict, ts: str) -> None:
    moment = parse_time(ts)
    for entry in host_intent.get("block", []):
        key = _net(entry)
        recorded = recorded_ttl(host_intent, entry)
        ttl_known = recorded != "unknown"
        ttl = recorded if isinstance(recorded, int) else None
        expires = utc_stamp(moment + timedelta(seconds=ttl)) if ttl_known and ttl else None
        intent.blocks[key] = IntendedBlock(key, str(plan.get("incident") or ""),
                                           int(plan.get("seq", 0)), ts, expires, ttl_known)
        intent.uncertain.pop(key, None)
        intent.settled[key] = int(plan.get("seq", 0))
    for entry in host_intent.get("unblock", []):
        intent.blocks.pop(_net(entry), None)
        intent.uncertain.pop(_net(entry), None)
        intent.settled[_net(entry)] = int(plan.get("seq", 0))
    if "isolated" in host_intent:
        intent.settled["isolation"] = int(plan.get("seq", 0))
        intent.isolated_since = ts if host_intent["isolated"] else None
        intent.management = host_intent.get("management") if host_intent["isolated"] else None
        intent.isolation_incident = str(plan.get("incident") or "")
        intent.uncertain.pop("isolation", None)


def _doubt(intent: HostIntent, plan: dict, host_intent: dict, why: str) -> None:
    """Mark what ``plan`` meant to change on the host uncertain, unless a later plan's
    result settled it (an interrupted plan is only known at the end of the record)."""
    seq = int(plan.get("seq", 0))
    for entry in [*host_intent.get("block", []), *host_intent.get("unblock", [])]:
        if intent.settled.get(_net(entry), -1) < seq:
            intent.uncertain[_net(entry)] = why
    if "isolated" in host_intent and intent.settled.get("isolation", -1) < seq:
        intent.uncertain["isolation"] = why


def intended_state(records: Iterable[Record], now: datetime) -> dict[str, HostIntent]:
    """Fold the record into each host's intended state at ``now``.

    Args:
        records: the whole record in chain order (every incident: a block placed in one
            incident is meant to stay whatever incident is current).
        now: the time to evaluate expiries at (aware, UTC).

    Returns:
        host → :class:`HostIntent` for every host any plan targeted.
    """
    plans: dict[int, dict] = {}
    answered: dict[int, set[str]] = {}
    out: dict[str, HostIntent] = {}
    for record in records:
        if record.kind == "plan":
            plans[record.seq] = {**record.body, "seq": record.seq}
            answered[record.seq] = set()
        elif record.kind == "host_result":
            plan = plans.get(int(record.get("action_id", -1)))
            host = str(record.get("host", ""))
            if plan is None:
                continue
            answered[plan["seq"]].add(host)
            if host in plan.get("failed", {}):  # refused before any change: nothing ran
                continue
            host_intent = plan.get("intent", {}).get(host, {})
            intent = out.setdefault(host, HostIntent(host))
            if record.get("ok"):
                _apply(intent, plan, host_intent, record.ts)
            else:
                _doubt(intent, plan, host_intent, f"action #{plan['seq']} "
                       f"({plan.get('summary', '')}) {record.get('outcome', 'failed')} here "
                       f"at {record.ts}")
    for seq, plan in plans.items():
        for host in set(plan.get("hosts", [])) - answered[seq]:
            if host in plan.get("skipped", {}) or host in plan.get("failed", {}):
                continue
            _doubt(out.setdefault(host, HostIntent(host)), plan,
                   plan.get("intent", {}).get(host, {}),
                   f"action #{seq} ({plan.get('summary', '')}) was interrupted at {plan['ts']}")
    for intent in out.values():
        for entry, block in list(intent.blocks.items()):
            if block.expires_at and parse_time(block.expires_at) <= now:
                del intent.blocks[entry]
    return out


@dataclass
class HostDrift:
    """The difference on one host between the record and the live read-back.

    Attributes:
        lost: intended blocks missing on the host (before their expiry), or present but
            not enforced (their drop rules gone or not reached: a firewall reload).
        unenforced: those of ``lost`` that are in irtui's set but NOT ENFORCED.
        unrecorded: entries in irtui's table the record never placed.
        expiry: ``(block, what the host says)`` where the live expiry differs.
        isolation_lost: since when isolation was meant to be in force, when it is not
            (absent, or only PARTIAL).
        isolation_problem: why the live isolation is PARTIAL, when it is.
        isolation_unrecorded: the live isolation's start, when the record has none.
        isolation_widened: management entries the live isolation keeps reachable that the
            recorded isolation did not (a management set widened by hand).
        uncertain: entry → why it is not judged (interrupted or failed actions).
        error: the host could not be read: nothing is known (never "no drift").
    """

    host: str
    lost: list[IntendedBlock] = field(default_factory=list)
    unenforced: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)
    expiry: list[tuple[IntendedBlock, str]] = field(default_factory=list)
    isolation_lost: str | None = None
    isolation_problem: str | None = None
    isolation_unrecorded: str | None = None
    isolation_widened: list[str] = field(default_factory=list)
    uncertain: dict[str, str] = field(default_factory=dict)
    error: str = ""

    @property
    def drifted(self) -> bool:
        """True when something irtui meant is missing or something unrecorded is there."""
        return bool(self.lost or self.unrecorded or self.isolation_lost
                    or self.isolation_unrecorded or self.isolation_widened or self.expiry)

    @property
    def known(self) -> bool:
        """False when the host could not be read."""
        return not self.error

    def summary(self) -> str:
        """``2 lost block(s) (1 NOT ENFORCED), isolation lost``; ``as recorded`` when
        nothing drifted; ``unknown (why)`` when the host could not be read."""
        if self.error:
            return f"unknown ({self.error})"
        parts = [f"{len(self.lost)} lost block(s)" + (
            f" ({len(self.unenforced)} NOT ENFORCED)" if self.unenforced else "")
            ] if self.lost else []
        parts += [f"{len(self.unrecorded)} unrecorded"] if self.unrecorded else []
        parts += ["isolation lost"] if self.isolation_lost else []
        parts += ["unrecorded isolation"] if self.isolation_unrecorded else []
        parts += [f"isolation open to {len(self.isolation_widened)} unrecorded peer(s)"
                  ] if self.isolation_widened else []
        parts += [f"{len(self.expiry)} expiry differs"] if self.expiry else []
        return ", ".join(parts) or "as recorded"


def _expiry_note(block: IntendedBlock, live_expires: int | None, read_at: datetime
                 ) -> str | None:
    if not block.ttl_known:
        return None
    if block.expires_at is None:
        return None if live_expires is None else f"expires in {live_expires} s (meant permanent)"
    if live_expires is None:
        return f"permanent on the host (meant to expire at {block.expires_at})"
    live_end = read_at + timedelta(seconds=live_expires)
    gap = (live_end - parse_time(block.expires_at)).total_seconds()
    if abs(gap) <= EXPIRY_TOLERANCE_S:
        return None
    return f"expires at {utc_stamp(live_end)} (meant {block.expires_at})"


def compare(intent: HostIntent | None, state: HostState, now: datetime) -> HostDrift:
    """Compare one host's intended state with its live ``state`` (read at ``now``)."""
    intent = intent or HostIntent(state.host)
    drift = HostDrift(state.host, uncertain=dict(intent.uncertain))
    live = {str(b.network): b for b in state.blocks}  # canonical, as the record's _net()
    soon = now + timedelta(seconds=EXPIRY_GRACE_S)
    for entry, block in sorted(intent.blocks.items()):
        found = live.get(entry)
        if found is None:
            if block.expires_at is None or parse_time(block.expires_at) > soon:
                drift.lost.append(block)
            continue
        if not found.enforced:  # in the set, but nothing drops it: lost all the same
            drift.lost.append(block)
            drift.unenforced.append(entry)
            continue
        note = _expiry_note(block, found.expires, now)
        if note:
            drift.expiry.append((block, note))
    drift.unrecorded = sorted(e for e in live if e not in intent.blocks
                              and e not in intent.uncertain)
    isolated_live = state.isolation is not None
    if intent.isolated_since and not state.isolated and "isolation" not in intent.uncertain:
        drift.isolation_lost = intent.isolated_since
        drift.isolation_problem = state.isolation.problem if state.isolation else None
    if state.isolation and intent.isolated_since \
            and intent.management is not None and "isolation" not in intent.uncertain:
        drift.isolation_widened = sorted(set(state.isolation.management)
                                         - set(intent.management))
    if isolated_live and not intent.isolated_since and "isolation" not in intent.uncertain:
        drift.isolation_unrecorded = (state.isolation.since if state.isolation else "") or "?"
    return drift


def lost_groups(drifts: Sequence[HostDrift]) -> dict[tuple[str | None, bool], dict[str, list[str]]]:
    """Lost blocks grouped for re-applying: ``(expires_at, ttl_known)`` → host → entries,
    so each group is one block plan with one TTL. Expiries within
    :data:`EXPIRY_TOLERANCE_S` of the group's first share it (one command blocked them on
    several hosts, whose results were recorded milliseconds apart), keyed by the latest of
    them: no entry is put back to end before its intended expiry."""
    groups: dict[tuple[str | None, bool], dict[str, list[str]]] = {}

    def add(key: tuple[str | None, bool], host: str, entry: str) -> None:
        groups.setdefault(key, {}).setdefault(host, []).append(entry)

    timed = []
    for drift in drifts:
        for block in drift.lost:
            if block.expires_at is None:
                add((None, block.ttl_known), drift.host, block.entry)
            else:
                timed.append((block.ttl_known, parse_time(block.expires_at), block.expires_at,
                              drift.host, block.entry))
    timed.sort(key=lambda t: (t[0], t[1]))
    bucket: list[tuple[bool, datetime, str, str, str]] = []
    for item in [*timed, None]:
        if bucket and (item is None or item[0] != bucket[0][0]
                       or (item[1] - bucket[0][1]).total_seconds() > EXPIRY_TOLERANCE_S):
            key = (bucket[-1][2], bucket[-1][0])
            for _, _, _, host, entry in bucket:
                add(key, host, entry)
            bucket = []
        if item is not None:
            bucket.append(item)
    return groups
