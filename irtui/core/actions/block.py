"""Blocking and unblocking IOCs: plans with per-entry accounting, the conntrack flow cut, and
read-back verification.

A block is enforced by the host (its firewall's sets, with kernel-side TTLs); irtui only
reports success after reading the host back and finding every entry it added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from irtui.core.actions.context import ActionContext, plan_each, settle_refusals
from irtui.core.actions.guardrails import (
    config_guard,
    guard_hit,
    jump_host_guard,
    parse_targets,
)
from irtui.core.actions.overlap import SPECIAL, OverlapIndex
from irtui.core.actions.reads import readback_for
from irtui.core.actions.runner import steps_for
from irtui.core.durations import exact_duration, format_duration, parse_ttl
from irtui.core.errors import InvalidTargetError
from irtui.core.firewall.backend import BlockRequest
from irtui.core.firewall.detect import NETWORK_UNKNOWN
from irtui.core.firewall.state import (
    BlockEntry,
    HostState,
    Network,
    describe_networks,
    entry_text,
)
from irtui.core.hostlock import locked_all
from irtui.core.plan import EntryFate, EntryStatus, Plan
from irtui.core.remote import run_script
from irtui.core.settings import HostConfig
from irtui.core.targets import refusal

FLOWS_CUT = "flows cut:"


def _large(ctx: ActionContext, networks: list[Network]) -> list[Network]:
    fw = ctx.config.firewall
    return [n for n in networks
            if n.prefixlen < (fw.confirm_prefix_v4 if n.version == 4 else fw.confirm_prefix_v6)]


def plan_block(ctx: ActionContext, targets: Sequence[str], hosts: Sequence[str],
               ttl: int | str | None = "default") -> Plan:
    """Plan adding ``targets`` to the blocklist of ``hosts`` (enforcement points).

    Reads each host's preflight facts and live state first, so the plan is exact: entries
    already present are refreshed (TTL renewed, never shortened: one with a longer TTL or
    none keeps it, and its status says so), and entries a guardrail forbids are refused
    per host with the rule that matched (see :mod:`irtui.core.actions.guardrails`). IPv6
    entries on a host whose backend cannot filter IPv6 are refused as "not protected over
    IPv6".

    Args:
        targets: addresses/CIDRs as typed or read from a feed.
        hosts: host names, ``@group`` or ``all``.
        ttl: seconds, a duration text (``24h``), None/``permanent``, or ``"default"`` for
            ``firewall.default_ttl``. Expiry is enforced by the host's kernel.

    Returns:
        The plan; ``plan.entries`` accounts for every entry on every host and
        ``plan.confirm_text`` is set when a prefix is larger than
        ``firewall.confirm_prefix_v4/v6``.

    Raises:
        InvalidTargetError: nothing at all could be blocked (the message gives the reasons).
        UnknownHostError, SSHError, HostKeyError, ActionError: while reading the hosts.
    """
    chosen = ctx.select(hosts)
    seconds = ctx.config.firewall.default_ttl if ttl == "default" else parse_ttl(ttl)
    notes: list[str] = []
    networks, refused_everywhere = parse_targets(targets, notes)
    guard = config_guard(ctx.config)
    jump_host = jump_host_guard()  # after each host's own rules: the session address first
    plan = Plan("block", "", [h.name for h in chosen], notes=notes, batch_steps=True)
    screen = OverlapIndex([*SPECIAL, *(n for n, _ in guard)])  # exact, fast: see overlap.py
    for net in networks:
        why = (refusal(net) or guard_hit(net, guard)) if screen.overlaps(net) else None
        if why:
            refused_everywhere[str(net)] = EntryStatus(EntryFate.REFUSED, why)
    wanted = [n for n in networks if str(n) not in refused_everywhere] \
        if refused_everywhere else networks
    if not wanted:
        raise InvalidTargetError(
            "nothing to block: " + "; ".join(f"{t} {why}" for t, why in
                                             refused_everywhere.items()),
            "check the addresses; nothing was changed")
    large = _large(ctx, wanted)
    notes += [f"{n} covers {n.num_addresses:,} addresses" for n in large]
    expected: dict[str, list[Network]] = {}
    ttls: dict[str, dict[Network, int | None]] = {}  # host → TTL each entry must read back
    held: dict[str, str] = {}  # host → why none of the entries can be blocked there

    def one(host: HostConfig) -> None:
        profile = ctx.changeable(host.name)
        state = ctx.read_state(host.name)
        accounting = dict(refused_everywhere)
        requests: list[BlockRequest] = []
        unenforced: list[Network] = []  # in the set, but its drop rules are not in force
        host_guard = profile.facts.protected() + jump_host
        host_screen = OverlapIndex(n for n, _ in host_guard)
        blind = None if profile.facts.network_known else (
            f"host's own addresses and default gateways unknown ({NETWORK_UNKNOWN}), so "
            "the guardrails cannot be checked; install iproute2 there (ip -j)")
        for net in wanted:
            hit = blind or (guard_hit(net, host_guard) if host_screen.overlaps(net) else None)
            if hit:
                accounting[str(net)] = EntryStatus(EntryFate.REFUSED, hit)
            elif net.version == 6 and not profile.choice.ipv6_protected:
                accounting[str(net)] = EntryStatus(
                    EntryFate.REFUSED, "host not protected over IPv6 "
                    f"({profile.choice.name} has no IPv6 tool there)")
            else:
                entry = state.find(net)
                if entry is not None and not entry.enforced:
                    unenforced.append(net)
                ttl, kept = _longer_ttl(seconds, entry.expires if entry else 0)
                requests.append(BlockRequest(net, ttl, refresh=entry is not None))
                if kept:
                    plan.kept_ttl.setdefault(host.name, {})[str(net)] = ttl
                accounting[str(net)] = EntryStatus(
                    EntryFate.REFRESH if entry is not None else EntryFate.TO_ADD, kept)
        plan.entries[host.name] = accounting
        expected[host.name] = [r.network for r in requests]
        longer = [f"{r.network} ({format_duration(r.ttl)})" for r in requests
                  if r.refresh and accounting[str(r.network)].reason]
        if unenforced:
            notes.append(f"{host.name}: {describe_networks(unenforced)} already in the "
                         "blocklist but NOT ENFORCED there (a drop rule is missing or "
                         "bypassed); this block puts its rules back and reads them back")
        if longer:
            notes.append(f"{host.name}: already blocked for longer than "
                         f"{format_duration(seconds)}, kept as they are (unblock first to "
                         f"shorten): {', '.join(longer[:5])}"
                         + (f" and {len(longer) - 5} more" if len(longer) > 5 else ""))
        if not requests:  # every entry refused here: settled below, never a ✓
            first = str(wanted[0])  # each of them was refused here
            held[host.name] = (f"nothing blocked there: {first} {accounting[first]}"
                               + (f" (and {len(wanted) - 1} more refused)"
                                  if len(wanted) > 1 else "") + "; nothing was changed")
            return
        plan.steps += steps_for(host, locked_all(profile.backend.block_commands(requests, state),
                                                 "block", ctx.lock_wait))
        wanted_here = expected[host.name]
        ttls_here = ttls[host.name] = ({r.network: r.ttl for r in requests}
                                       if profile.backend.exact_ttl else {})
        plan.readback[host.name] = readback_for(
            host, profile.backend,
            lambda read: enforcement_problem(read, wanted_here, ttls_here))
        if "conntrack" in profile.facts.binaries:
            plan.steps += steps_for(host, [run_script(
                "conntrack_cut", purpose="cut existing flows of the blocked entries (conntrack)",
                stdin="".join(f"{entry_text(r.network)}\n" for r in requests))], FLOWS_CUT)
        if profile.facts.global_ipv6 and not profile.choice.ipv6_protected:
            notes.append(f"{host.name}: NOT protected over IPv6 — install the IPv6 tool "
                         f"for {profile.choice.name}")
        if (on_link := _on_link(profile.facts.addresses, requests)) is not None:
            notes.append(f"{host.name}: {on_link[0]} is on the host's own link "
                         f"({on_link[1]}): a peer there still reaches it over IPv6 link-local "
                         "addresses (fe80::/10), which no blocklist entry can name; isolate "
                         "the host to cut an attacker on its link")

    plan_each(plan, chosen, one, ctx, hold=True)
    settle_refusals(plan, held, "block", "check the addresses; nothing was changed")
    # what some host will block: an entry every host refused is neither in the summary
    # (its "ok" would read as blocked) nor typed to confirm
    if expected and all(len(nets) == len(wanted) for nets in expected.values()):
        # no host refused any: a host's list is wanted itself (it keeps wanted's order)
        applied, blocked = set(large), wanted
    else:
        applied = {n for nets in expected.values() for n in nets}
        blocked = [n for n in wanted if n in applied] or wanted
    large = [n for n in large if n in applied]
    if large:
        plan.confirm_text = " ".join(str(n) for n in large)
    plan.summary = (f"block {_what(blocked)} on {', '.join(h.name for h in chosen)} "
                    f"(TTL {_ttl_text(seconds)})")

    def verify(host: str) -> str | None:
        return enforcement_problem(ctx.read_state(host), expected.get(host, []),
                                   ttls.get(host))

    plan.verify = verify
    return plan


def _still_listed(state: HostState, removed: Sequence[Network]) -> str | None:
    """An unblock's verification: the entries of ``removed`` ``state`` still lists, and
    those a wider entry still drops (one added after the plan was read: the unblock removed
    the entry, but the traffic stays cut)."""
    still = [str(n) for n in removed if state.find(n) is not None]
    covered = _still_covering(state, removed)
    problems = [f"still in the live blocklist: {', '.join(still)}"] if still else []
    if covered:
        problems.append("still blocked by a wider entry: " + ", ".join(
            f"{n} by {wider}" for n, wider in list(covered.items())[:5])
            + (f" and {len(covered) - 5} more" if len(covered) > 5 else "")
            + " (added after the plan was read? unblock that entry to let this traffic "
            "through)")
    return "; ".join(problems) or None


def _unblock_status(net: Network, gone: set[Network],
                    covered: dict[Network, Network]) -> EntryStatus:
    """An unblock target's fate on one host: removed, not there, or refused because
    ``covered[net]`` would still drop its traffic."""
    if net in covered:
        return EntryStatus(EntryFate.REFUSED, f"stays blocked by {covered[net]} (unblock that "
                           "entry to let this traffic through)")
    return EntryStatus(EntryFate.TO_REMOVE if net in gone else EntryFate.NOT_PRESENT)


def _on_link(addresses: Sequence[Any], requests: Sequence[BlockRequest]
             ) -> tuple[Network, Network] | None:
    """The first requested entry inside one of the host's own subnets, with that subnet,
    when the host also has an IPv6 link-local address (RFC 4291 section 2.5.6): a peer on
    the link can then talk to it from fe80::/10, which irtui refuses to block; else None."""
    if not any(a.version == 6 and a.ip.is_link_local for a in addresses):
        return None
    links = [a.network for a in addresses if not a.ip.is_loopback and not a.ip.is_link_local
             and a.network.prefixlen < a.network.max_prefixlen]
    if not links:
        return None
    screen = OverlapIndex(links)
    for r in requests:
        if screen.overlaps(r.network):
            link = next((n for n in links if n.version == r.network.version
                         and r.network.subnet_of(n)), None)  # type: ignore[arg-type]
            if link is not None:
                return r.network, link
    return None


def _narrower(state: HostState, networks: Sequence[Network]) -> list[Network]:
    """The host's entries strictly inside one of ``networks`` (a /32 under an unblocked
    /24), in the host's order; none when ``networks`` is empty."""
    prefixes = [n for n in networks if n.prefixlen < n.max_prefixlen]
    if not prefixes or not state.blocks:
        return []
    screen = OverlapIndex(prefixes)  # a feed of 100,000 against as many entries: indexed
    named = set(networks)
    return [e.network for e in state.blocks if e.network not in named
            and screen.overlaps(e.network)
            and any(e.network.version == n.version and e.network.subnet_of(n)  # type: ignore[arg-type]
                    for n in prefixes)]


def _still_covering(state: HostState, networks: Sequence[Network]) -> dict[Network, Network]:
    """``{target: the wider entry of state that still covers it}`` for the targets an
    unblock leaves covered (that entry is not itself being removed). Looks up only the
    prefix lengths the blocklist holds, so it stays fast on 100,000 entries."""
    removing = set(networks)
    lengths: dict[int, set[int]] = {}
    for entry in state.blocks:
        lengths.setdefault(entry.network.version, set()).add(entry.network.prefixlen)
    out: dict[Network, Network] = {}
    for net in networks:
        for length in sorted(lengths.get(net.version, ())):
            if length >= net.prefixlen:
                break
            wider = net.supernet(new_prefix=length)
            if wider not in removing and state.find(wider) is not None:
                out[net] = wider
                break
    return out


def _longer_ttl(asked: int | None, remaining: int | None) -> tuple[int | None, str]:
    """The TTL to write for an entry already blocked with ``remaining`` seconds left (None:
    permanent; 0: not blocked), and why it is not ``asked``: a block is never shortened as a
    side effect of blocking again (a colleague's permanent block must not lift in 10
    minutes); shortening one is an unblock, then a block."""
    if asked is None or remaining == 0 or (remaining is not None and remaining <= asked):
        return asked, ""
    left = "permanent" if remaining is None else f"{format_duration(remaining)} left"
    return remaining, (f"keeps its longer TTL ({left}; {format_duration(asked)} asked; "
                       "to shorten it, unblock it first)")


def enforcement_problem(state: HostState, expected: Sequence[Network],
                        ttls: Mapping[Network, int | None] | None = None) -> str | None:
    """Why ``expected`` is not blocked on the host whose live state is ``state``: entries
    missing from the blocklist, present but not enforced (their drop rules are missing or
    not reached, see :class:`~irtui.core.firewall.state.Enforcement`), or, for the entries
    ``ttls`` gives (seconds, None = permanent; only from a backend that reads TTLs back
    exactly), set to expire sooner than asked. None when every one is in force as asked."""
    missing: list[str] = []
    unenforced: list[BlockEntry] = []
    short: list[BlockEntry] = []
    asked_ttls = ttls or {}
    for n in expected:  # one lookup each: a feed's read-back checks 100,000
        entry = state.find(n)
        if entry is None:
            missing.append(entry_text(n))
            continue
        if not entry.enforced:
            unenforced.append(entry)
        if asked_ttls and entry.timeout is not None:
            asked = asked_ttls.get(n, entry.timeout)  # not given: nothing to check
            if asked is None or entry.timeout < asked:
                short.append(entry)
    problems = []
    if missing:
        problems.append(f"not in the live blocklist: {', '.join(missing[:5])}")
    if unenforced:
        why = "; ".join(state.gaps[:2]) or "the read-back could not confirm the drop rules"
        problems.append(f"in the blocklist but {unenforced[0].enforcement.value.upper()}: "
                        f"{', '.join(e.text for e in unenforced[:5])} ({why})")
    if short:
        first = short[0]
        asked = asked_ttls[first.network]
        problems.append(
            f"blocked with a shorter TTL than asked: {', '.join(e.text for e in short[:5])}"
            + (f" and {len(short) - 5} more" if len(short) > 5 else "")
            + f" (TTL {_ttl_text(first.timeout)}, {_ttl_text(asked)} asked; it was "
            "added meanwhile by someone else: block it again to renew it)")
    return "; ".join(problems) or None


def _ttl_text(seconds: int | None) -> str:
    """A TTL as written to the firewall, to the second (``1h1m1s``, ``1d``, ``permanent``):
    the rounded countdown form would show a TTL of 3,661 s as ``1h01m``."""
    return exact_duration(seconds) if seconds is None or seconds > 0 else "0s"


def _what(networks: list[Network]) -> str:
    shown = ", ".join(str(n) for n in networks[:3])
    return shown + (f" and {len(networks) - 3} more" if len(networks) > 3 else "")


def plan_unblock(ctx: ActionContext, targets: Sequence[str], hosts: Sequence[str]) -> Plan:
    """Plan removing ``targets`` from the blocklist of ``hosts``. Reads each host's live
    blocklist first: a host where a target is not blocked is reported, not failed. A target
    a wider entry of the host still covers (and that is not being removed too) is refused
    there, with that entry named: removing it would not let its traffic through.

    Raises:
        InvalidTargetError: a target is malformed, or nothing can be unblocked anywhere and
            some target stays covered by a wider entry.
        UnknownHostError, SSHError, HostKeyError, ActionError: while reading the hosts.
    """
    chosen = ctx.select(hosts)
    notes: list[str] = []
    networks, bad = parse_targets(targets, notes)
    if bad:
        raise InvalidTargetError("; ".join(f"{t}: {why.reason}" for t, why in bad.items()),
                                 "give an IPv4/IPv6 address or prefix")
    plan = Plan("unblock", f"unblock {_what(networks)} on "
                f"{', '.join(h.name for h in chosen)}", [h.name for h in chosen], notes=notes,
                batch_steps=True)
    removed: dict[str, list[Network]] = {}
    absent: dict[str, list[Network]] = {}
    held: dict[str, str] = {}  # host → why nothing there can be unblocked (wider entries)

    def one(host: HostConfig) -> None:
        backend = ctx.changeable(host.name).backend
        state = ctx.read_state(host.name)
        covered = _still_covering(state, networks)
        present = [n for n in networks if n not in covered and state.find(n) is not None]
        removed[host.name] = present
        gone = set(present)
        absent[host.name] = [n for n in networks if n not in gone and n not in covered]
        plan.entries[host.name] = {str(n): _unblock_status(n, gone, covered) for n in networks}
        for net, wider in list(covered.items())[:5]:
            notes.append(f"{host.name}: {net} stays blocked by {wider} (not unblocked here; "
                         "unblock it too to let this traffic through)")
        if len(covered) > 5:
            notes.append(f"{host.name}: {len(covered) - 5} more stay blocked by wider entries")
        if absent[host.name]:
            notes.append(f"{host.name}: not blocked there: {_what(absent[host.name])}")
        inside = _narrower(state, absent[host.name])
        if inside:  # an unblock removes exactly the entries named, never what lies inside
            notes.append(f"{host.name}: still blocked inside {_what(absent[host.name])}: "
                         f"{_what(inside)} (unblock names exact entries: name these to "
                         "unblock them)")
        if not present:
            if covered:  # not "unchanged": its traffic stays dropped (decided below)
                net, wider = next(iter(covered.items()))
                held[host.name] = (f"nothing unblocked there: {net} stays blocked by {wider}"
                                   + (f" (and {len(covered) - 1} more by wider entries)"
                                      if len(covered) > 1 else "")
                                   + "; unblock that entry to let this traffic through; "
                                   "nothing was changed")
            else:
                plan.skipped[host.name] = "not blocked there" + (
                    f" ({len(inside)} narrower entr{'y' if len(inside) == 1 else 'ies'} "
                    "inside it stay blocked: see the notes)" if inside else "")
            return
        plan.steps += steps_for(host, locked_all(backend.unblock_commands(present, state),
                                                 "unblock", ctx.lock_wait))
        plan.readback[host.name] = readback_for(
            host, backend, lambda read: _still_listed(read, present))

    plan_each(plan, chosen, one, ctx, hold=True)
    settle_refusals(plan, held, "unblock", "irtui blocks --on HOST lists the wider entries; "
                    "nothing was changed")

    def verify(host: str) -> str | None:
        return _still_listed(ctx.read_state(host), removed.get(host, []))

    def recheck(host: str) -> str | None:
        state = ctx.read_state(host)
        now = [str(n) for n in absent.get(host, networks) if state.find(n) is not None]
        return f"blocked there now: {', '.join(now)}" if now else None

    plan.verify = verify
    plan.recheck = recheck
    return plan
