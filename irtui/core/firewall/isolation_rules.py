"""Is every accepting rule in irtui's isolation chains one irtui wrote? A rule added by hand
(``nft insert rule inet irtui_isolation input accept``, ``iptables -t raw -I
IRTUI-ISOLATE-IN -j ACCEPT``) opens the isolated host while every piece irtui checks for is
still there, so a read-back that only looks for the pieces would say "isolated".

The shapes irtui writes are those of ``nftables.toml`` / ``iptables.toml``: loopback, the
management sets or networks (listed back in ``Isolation.management``), management endpoints
with a port (listed back too; an output endpoint must match an input one) and their IPv6
neighbour discovery (solicitations and advertisements with hop limit 255, that network
only), and the link-scoped DHCP and IPv6 neighbour-discovery exceptions (RFC 2131 §4.1,
RFC 8415 §7.1, RFC 4861 §7.1: broadcast, link-local, multicast peers only). Anything else
that may accept (``accept``, ``jump``/``goto``, a verdict map, iptables ``ACCEPT`` or a jump
to another chain, a ``RETURN`` of another shape) makes the isolation not in force.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from irtui.core.firewall.enforcement import NFT_MAY_ACCEPT, NftRuleset

LINK_SCOPED = tuple(ipaddress.ip_network(n) for n in
                    ("fe80::/10", "::/128", "ff00::/8", "255.255.255.255/32"))
"""Peers the DHCP and ND exceptions may name: link-local, unspecified, multicast, the IPv4
limited broadcast (RFC 4291 §2.5.2, §2.5.6, §2.7; RFC 919)."""

DHCP_PORTS = frozenset({67, 68, 546, 547})
"""DHCPv4 server/client (RFC 2131 §4.1) and DHCPv6 client/server (RFC 8415 §7.2) ports."""

_ADDRESS_FIELDS = {("ip", "saddr"), ("ip", "daddr"), ("ip6", "saddr"), ("ip6", "daddr")}


def _key(left: Any) -> tuple[str, str] | None:
    """``(protocol, field)`` of a payload match, ``("meta", key)`` of a meta match."""
    if isinstance(left, dict) and isinstance(left.get("payload"), dict):
        payload = left["payload"]
        return str(payload.get("protocol")), str(payload.get("field"))
    if isinstance(left, dict) and isinstance(left.get("meta"), dict):
        return "meta", str(left["meta"].get("key"))
    return None


def _values(right: Any) -> list[Any]:
    """A match's right side as a list (a set's items, or the one value)."""
    if isinstance(right, dict) and isinstance(right.get("set"), list):
        return list(right["set"])
    return [right]


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        if isinstance(value, dict) and isinstance(value.get("prefix"), dict):
            return ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}")
        return ipaddress.ip_network(str(value)) if isinstance(value, str) else None
    except (ValueError, KeyError, TypeError):
        return None


def _link_scoped(value: Any) -> bool:
    net = _network(value)
    return net is not None and any(net.version == p.version and net.subnet_of(p)  # type: ignore[arg-type]
                                   for p in LINK_SCOPED)


def _nft_matches(expr: list[Any]) -> dict[tuple[str, str], list[Any]] | None:
    """The rule's matches by key, or None when it holds a match irtui never writes (an
    operator other than ``==``/``in``, an unknown left side, a key twice)."""
    out: dict[tuple[str, str], list[Any]] = {}
    for stmt in expr:
        if not isinstance(stmt, dict) or "match" not in stmt:
            continue
        match = stmt["match"]
        key = _key(match.get("left"))
        if key is None or key in out or match.get("op") not in ("==", "in"):
            return None
        out[key] = _values(match.get("right"))
    return out


def nft_endpoint(matches: dict[tuple[str, str], list[Any]]) -> tuple[str, str] | None:
    """``(network, port)`` text of an endpoint rule's matches (one literal address match,
    ``meta l4proto {tcp, udp}``, one ``th`` port), or None for another shape."""
    addresses = [k for k in matches if k in _ADDRESS_FIELDS]
    ports = [k for k in matches if k[0] == "th" and k[1] in ("sport", "dport")]
    if len(matches) != 3 or len(addresses) != 1 or len(ports) != 1 \
            or sorted(map(str, matches.get(("meta", "l4proto"), []))) != ["tcp", "udp"]:
        return None
    (address,), (port,) = matches[addresses[0]], matches[ports[0]]
    net = _network(address)
    if net is None or not isinstance(port, int):  # "@set" is no network
        return None
    return str(net), str(port)


ENDPOINT_ND = frozenset({"nd-neighbor-solicit", "nd-neighbor-advert"})
"""What an IPv6 endpoint's neighbour-discovery rule accepts (RFC 4861 §7.2)."""


def _endpoint_nd(matches: dict[tuple[str, str], list[Any]], side: str,
                 networks: set[str]) -> bool:
    """True for ``ip6 hoplimit 255 ip6 saddr|daddr NET icmpv6 type {solicit, advert}`` where
    ``NET`` is the network of an endpoint rule (``networks``, as :func:`nft_endpoint` gives
    them) and ``side`` the chain's peer side."""
    if set(matches) != {("ip6", side), ("ip6", "hoplimit"), ("icmpv6", "type")} \
            or matches[("ip6", "hoplimit")] != [255] \
            or not set(map(str, matches[("icmpv6", "type")])) <= ENDPOINT_ND:
        return False
    values = matches[("ip6", side)]
    net = _network(values[0]) if len(values) == 1 else None
    return net is not None and str(net) in networks


def _nft_known(matches: dict[tuple[str, str], list[Any]], hook: str,
               endpoints: set[tuple[str, str]]) -> bool:
    """True when ``matches`` (of a rule that accepts, in the isolation chain on ``hook``)
    are a shape irtui writes there."""
    keys = set(matches)
    lo = "iif" if hook == "input" else "oif"
    if hook == "forward":
        return False
    if keys <= {("meta", lo), ("meta", lo + "name")} and len(keys) == 1:
        return [str(v) for v in next(iter(matches.values()))] == ["lo"]
    side = "saddr" if hook == "input" else "daddr"
    if keys in ({("ip", side)}, {("ip6", side)}):
        (value,) = next(iter(matches.values()))
        return value == ("@mgmt4" if ("ip", side) in keys else "@mgmt6")
    if (endpoint := nft_endpoint(matches)) is not None:
        address = next(k for k in keys if k in _ADDRESS_FIELDS)
        return address[1] == side and (hook == "input" or endpoint in endpoints)
    addresses = keys & _ADDRESS_FIELDS
    rest = keys - addresses
    if _endpoint_nd(matches, side, {net for net, _ in endpoints}):
        return True
    if not addresses or not all(_link_scoped(v) for k in addresses for v in matches[k]):
        return False
    if rest == {("ip6", "hoplimit"), ("icmpv6", "type")}:  # neighbour discovery
        return matches[("ip6", "hoplimit")] == [255]
    if rest == {("udp", "sport"), ("udp", "dport")}:  # DHCP
        return all(v in DHCP_PORTS for k in rest for v in matches[k])
    return False


def nft_unknown_accept(ruleset: NftRuleset, table: str) -> str | None:
    """Why irtui's isolation table ``table`` is not in force because a rule irtui did not
    write may accept in one of its policy-drop base chains (input, output, forward), or
    None."""
    chains = [(hook, name, ruleset.rules.get((table, name), []))
              for hook in ("input", "output", "forward")
              for name in ruleset.base_chains(table, hook)
              if ruleset.chains[(table, name)].get("policy") == "drop"]
    endpoints: set[tuple[str, str]] = set()
    for hook, _, rules in chains:
        if hook == "input":
            endpoints |= {e for expr in rules if (m := _nft_matches(expr)) is not None
                          and (e := nft_endpoint(m)) is not None}
    for hook, chain, rules in chains:
        for i, expr in enumerate(rules, start=1):
            verdicts = [s for s in expr if isinstance(s, dict) and not NFT_MAY_ACCEPT.isdisjoint(s)]
            if not verdicts:
                continue
            matches = _nft_matches(expr)
            if verdicts == [{"accept": None}] and matches is not None \
                    and _nft_known(matches, hook, endpoints):
                continue
            return (f"rule {i} of chain {chain} ({hook} hook) may accept traffic irtui's "
                    "isolation does not allow (added by hand?)")
    return None


def ipt_unknown_rule(rules: Sequence[tuple[str, ...]], known: Callable[[tuple[str, ...]], bool],
                     chain: str) -> str | None:
    """Why an iptables isolation chain (its ``rules``, last one the DROP) lets through more
    than irtui wrote: the first rule before the DROP that ``known`` does not recognise and
    whose target is not ``DROP``; None when there is none."""
    for i, rule in enumerate(rules[:-1], start=1):
        if rule[-2:] == ("-j", "DROP") or known(rule):
            continue
        return (f"rule {i} of {chain} ({' '.join(rule)}) is not one irtui wrote and may let "
                "traffic through (added by hand?)")
    return None
