"""Read-back of enforcement: does the host's firewall actually drop what irtui's sets hold,
and is irtui's isolation complete? Membership in a set proves nothing by itself.

nftables (nft(8), "VERDICT STATEMENT"): ``drop`` ends evaluation at once, in every table;
``accept`` only ends the base chain it is in, and the packet still traverses every other base
chain on the same hook. So another table accepting first (a lower priority) cannot undo
irtui's drop, but a rule *before* the drop in irtui's own chain that may accept (``accept``,
``return``, ``jump``/``goto`` elsewhere, a verdict map, ``queue``) can, as can a missing rule,
an unhooked chain or a dormant table. An entry is enforced when, for each of the four
directions irtui covers (input from it, output to it, forwarded from and to it), a base
chain of irtui's table on that hook holds the set's drop rule and nothing earlier in that
chain may accept.

iptables (iptables(8), "TARGETS"): ``ACCEPT`` or ``RETURN`` in a built-in chain ends that
table's traversal, so irtui's jump in raw ``PREROUTING``/``OUTPUT`` must come before any
rule that may accept; rules that only drop, or targets that never end traversal (``CT``,
``LOG``, ``MARK``...), may come first. The drop rules in irtui's chains are checked the same
way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from irtui.core.firewall.state import Enforcement, IsolationStatus

if TYPE_CHECKING:  # iptables_state imports this module
    from irtui.core.firewall.iptables_state import RawTable

# -- nftables ---------------------------------------------------------------------------------

NFT_DIRECTIONS = (("input", "saddr"), ("forward", "saddr"), ("forward", "daddr"),
                  ("output", "daddr"))
"""(hook, address field) pairs a block must drop in: what irtui's template installs."""

NFT_MAY_ACCEPT = frozenset({"accept", "return", "jump", "goto", "queue", "vmap", "synproxy",
                            "tproxy", "fwd", "xt"})
"""Statements after which a packet may leave a base chain without reaching a later rule
(``xt``: an iptables-nft target nft cannot show, so assumed to)."""

_FILTERING = frozenset({"filter", "route"})
_HARMLESS_TABLE_FLAGS = frozenset({"owner", "persist"})


@dataclass
class NftRuleset:
    """The ``inet`` tables, chains and rules of ``nft -j list ruleset``, indexed.

    Attributes:
        tables: table name → its JSON object.
        chains: (table, chain) → its JSON object.
        rules: (table, chain) → the ``expr`` list of each rule, in chain order.
    """

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    chains: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rules: dict[tuple[str, str], list[list[Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, items: Iterable[Any]) -> NftRuleset:
        """Index the ``nftables`` array of a JSON listing (other families are skipped)."""
        out = cls()
        for item in items:
            if not isinstance(item, dict):
                continue
            for kind in ("table", "chain", "rule"):
                obj = item.get(kind)
                if isinstance(obj, dict) and obj.get("family") == "inet":
                    break
            else:
                continue
            if kind == "table":
                out.tables[str(obj.get("name"))] = obj
            elif kind == "chain":
                out.chains[(str(obj.get("table")), str(obj.get("name")))] = obj
            else:
                key = (str(obj.get("table")), str(obj.get("chain")))
                expr = obj.get("expr")
                out.rules.setdefault(key, []).append(expr if isinstance(expr, list) else [])
        return out

    def base_chains(self, table: str, hook: str) -> list[str]:
        """Names of ``table``'s filtering base chains on ``hook``."""
        return [name for (t, name), chain in self.chains.items()
                if t == table and chain.get("hook") == hook and chain.get("type") in _FILTERING]

    def table_flags(self, table: str) -> tuple[Enforcement, str]:
        """Whether ``table``'s flags let its base chains run: ``dormant`` disables them
        (nft(8), "TABLES"). nft 1.0.6 prints a table's flags wrongly in JSON (its own
        version string), so unknown flags give ``UNKNOWN``, never ``ENFORCED``."""
        flags = self.tables.get(table, {}).get("flags")
        if flags is None:
            return Enforcement.ENFORCED, ""
        words = {str(f) for f in flags} if isinstance(flags, list) else {str(flags)}
        if "dormant" in words:
            return Enforcement.NOT_ENFORCED, f"table inet {table} is dormant"
        if words <= _HARMLESS_TABLE_FLAGS:
            return Enforcement.ENFORCED, ""
        return Enforcement.UNKNOWN, (f"table inet {table} has table flags this nft names "
                                     f"wrongly in JSON ({', '.join(sorted(words))!r}, an nft "
                                     "1.0.x bug): it may be dormant, and a dormant table's "
                                     f"rules never run (`nft list table inet {table}` shows "
                                     "the flags)")


def _set_match(expr: list[Any]) -> tuple[str, str, str, str | None] | None:
    """``(set, protocol, field, mask)`` when the rule is exactly "address (masked) in @set,
    drop" (one match, a drop verdict), else None."""
    matches = [e["match"] for e in expr if isinstance(e, dict) and "match" in e]
    if len(matches) != 1 or not any(isinstance(e, dict) and "drop" in e for e in expr):
        return None
    match = matches[0]
    right, left = match.get("right"), match.get("left")
    if match.get("op") not in ("==", "in") or not isinstance(right, str) \
            or not right.startswith("@"):
        return None
    mask = None
    if isinstance(left, dict) and isinstance(left.get("&"), list) and len(left["&"]) == 2:
        left, mask = left["&"]
    payload = left.get("payload") if isinstance(left, dict) else None
    if not isinstance(payload, dict):
        return None
    return right[1:], str(payload.get("protocol")), str(payload.get("field")), \
        str(mask) if mask is not None else None


def _may_accept(expr: list[Any]) -> bool:
    return any(isinstance(e, dict) and not NFT_MAY_ACCEPT.isdisjoint(e) for e in expr)


def _mask_ok(mask: str | None, version: int, length: int) -> bool:
    full = 32 if version == 4 else 128
    if mask is None:
        return length == full
    try:
        value = int(ipaddress.ip_address(mask))
    except ValueError:
        return False
    return value == ((1 << full) - 1) ^ ((1 << (full - length)) - 1)


def _chain_reaches(rules: list[list[Any]], wanted: tuple[str, str, str], version: int,
                   length: int) -> str | None:
    """None when the drop rule ``wanted`` = (set, protocol, field) with the mask of
    ``length`` is reached in ``rules``; ``"shadowed"`` when a rule that may accept comes
    first; ``"missing"`` when there is no such rule."""
    for expr in rules:
        found = _set_match(expr)
        if found is not None and found[:3] == wanted and _mask_ok(found[3], version, length):
            return None
        if _may_accept(expr):
            return "shadowed"
    return "missing"


def nft_set_problem(ruleset: NftRuleset, table: str, set_name: str, version: int,
                    length: int) -> str | None:
    """Why the entries of ``set_name`` (family ``version``, prefix ``length``) are not
    enforced, or None when a reachable drop rule covers every direction of
    :data:`NFT_DIRECTIONS`. Table flags are checked separately (:meth:`table_flags`)."""
    protocol = "ip" if version == 4 else "ip6"
    for hook, addr in NFT_DIRECTIONS:
        results = {chain: _chain_reaches(ruleset.rules.get((table, chain), []),
                                         (set_name, protocol, addr), version, length)
                   for chain in ruleset.base_chains(table, hook)}
        if None in results.values():
            continue
        shadowed = [chain for chain, result in results.items() if result == "shadowed"]
        why = (f" (in chain {', '.join(shadowed)} an earlier rule may accept first)"
               if shadowed else "")
        return (f"{set_name}: no reachable drop rule for {protocol} {addr} @{set_name} on "
                f"the {hook} hook (table inet {table}){why}")
    return None


def nft_isolation_problem(ruleset: NftRuleset, table: str) -> str | None:
    """Why irtui's isolation table is not complete (a base chain on each of the input,
    output and forward hooks with policy drop, table not dormant), or None when it is."""
    state, why = ruleset.table_flags(table)
    if state is not Enforcement.ENFORCED:
        return why
    missing = [hook for hook in ("input", "output", "forward")
               if not any(ruleset.chains[(table, c)].get("policy") == "drop"
                          for c in ruleset.base_chains(table, hook))]
    if missing:
        return f"table inet {table} has no {'/'.join(missing)} chain with policy drop"
    return None


# -- iptables ---------------------------------------------------------------------------------

IPT_PASS_THROUGH = frozenset({"DROP", "CT", "NOTRACK", "LOG", "NFLOG", "ULOG", "TRACE", "MARK",
                              "CONNMARK", "DSCP", "TOS", "TTL", "HL", "CLASSIFY", "AUDIT",
                              "SET", "RATEEST", "IDLETIMER", "LED", "SECMARK", "CONNSECMARK",
                              "TEE"})
"""Targets that never let a packet leave the chain accepted: DROP, and targets that do not
end traversal (iptables-extensions(8))."""


def ipt_reaches(rules: Sequence[tuple[str, ...]], wanted: tuple[str, ...],
                ours: Iterable[str] = ()) -> str | None:
    """None when ``wanted`` is in ``rules`` with only rules before it that cannot accept
    (no target, a :data:`IPT_PASS_THROUGH` target, or a jump to one of irtui's chains in
    ``ours``); else why not."""
    own = set(ours)
    for i, rule in enumerate(rules, start=1):
        if rule == wanted:
            return None
        for flag in ("-j", "-g"):
            if flag in rule[:-1]:
                target = rule[rule.index(flag) + 1]
                if flag == "-g" or (target not in IPT_PASS_THROUGH and target not in own):
                    return f"rule {i} ({' '.join(rule)}) comes first and may accept"
    return "missing"


def _passing_chains(raw: RawTable, chains: Iterable[str]) -> tuple[str, ...]:
    """Those of irtui's ``chains`` a jump to can only drop or return: every rule's target
    is DROP, RETURN or a :data:`IPT_PASS_THROUGH` one. A rule added by hand that accepts
    (``-I IRTUI-ISOLATE-IN -j ACCEPT``) ends the raw table there, so a jump to that chain
    may accept like any other."""
    def passes(rule: tuple[str, ...]) -> bool:
        for flag in ("-j", "-g"):
            if flag in rule[:-1]:
                target = rule[rule.index(flag) + 1]
                return flag == "-j" and (target == "RETURN" or target in IPT_PASS_THROUGH)
        return True

    return tuple(c for c in chains if all(passes(r) for r in raw.rules(c)))


def ipt_block_problem(raw: RawTable | None, version: int, names: dict[str, Any]) -> str | None:
    """Why the entries of irtui's IPv``version`` ipset are not enforced by this raw table,
    or None: ``PREROUTING`` must reach the jump to the block chain, which must reach the
    source and destination drops; ``OUTPUT`` likewise with the output chain."""
    family = "iptables" if version == 4 else "ip6tables"
    if raw is None or not raw.present:
        return f"{family}: no raw table, so no rule uses irtui's set"
    ipset = names[f"set{version}"]
    block_in, block_out = names["block_in"], names["block_out"]
    ours = _passing_chains(raw, (names["isolate_in"], names["isolate_out"], block_in,
                                 block_out))

    def drop(way: str) -> tuple[str, ...]:
        return ("-m", "set", "--match-set", ipset, way, "-j", "DROP")

    checks = [("PREROUTING", ("-j", block_in)), (block_in, drop("src")),
              (block_in, drop("dst")), ("OUTPUT", ("-j", block_out)), (block_out, drop("dst"))]
    for chain, wanted in checks:
        why = ipt_reaches(raw.rules(chain), wanted, ours)
        if why:
            return f"{family} raw {chain}: {' '.join(wanted)}: {why}"
    return None


def ipt_isolation(raws: dict[int, RawTable | None], families: Sequence[int],
                  names: dict[str, Any]) -> tuple[IsolationStatus, str]:
    """irtui's isolation across ``families``: ``ISOLATED`` when, in every family, both
    isolation chains exist and end in DROP and raw ``PREROUTING``/``OUTPUT`` reach their
    jumps; ``NORMAL`` when no piece exists anywhere; else ``PARTIAL`` with what is
    missing."""
    chains = (("PREROUTING", names["isolate_in"]), ("OUTPUT", names["isolate_out"]))
    ours = (names["isolate_in"], names["isolate_out"], names["block_in"], names["block_out"])
    complete, problems, any_piece = [], [], False
    for v in families:
        raw = raws.get(v)
        family = f"IPv{v}"
        missing = []
        for hook, chain in chains:
            if raw is None:
                missing.append(f"no raw table with {chain}")
                continue
            has_chain, jumps = raw.has_chain(chain), raw.jumps(hook, chain)
            any_piece = any_piece or has_chain or bool(jumps)
            if not has_chain or raw.rules(chain)[-1:] != (("-j", "DROP"),):
                missing.append(f"no {chain} chain ending in DROP")
            elif (why := ipt_reaches(raw.rules(hook), ("-j", chain), ours)) is not None:
                missing.append(f"raw {hook} -j {chain}: {why}")
        if missing:
            problems.append(f"{family} not isolated ({'; '.join(missing)})")
        else:
            complete.append(family)
    if not problems:
        return IsolationStatus.ISOLATED, ""
    if not any_piece:
        return IsolationStatus.NORMAL, ""
    done = f"{', '.join(complete)} isolated; " if complete else ""
    return IsolationStatus.PARTIAL, done + "; ".join(problems)
