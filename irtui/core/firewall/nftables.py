"""nftables backend: scripts for ``nft -f -`` built from ``nftables.toml``, and the parser
for ``nft -j list ruleset`` (libnftables-json(5))."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import replace
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from irtui.core.errors import ActionError
from irtui.core.firewall.backend import (
    BlockRequest,
    Command,
    FirewallBackend,
    IsolationPolicy,
    collapse,
    endpoint_text,
    management_changed,
    management_sum,
)
from irtui.core.firewall.enforcement import (
    NftRuleset,
    nft_isolation_problem,
    nft_set_problem,
)
from irtui.core.firewall.fastnet import network_from_text, sort_key
from irtui.core.firewall.isolation_rules import nft_unknown_accept
from irtui.core.firewall.state import (
    BlockEntry,
    Enforcement,
    HostState,
    Isolation,
    IsolationStatus,
    Network,
    address_text,
    describe_networks,
)
from irtui.core.remote import run_script

NFT = "nft"
SET_NAME = re.compile(r"^v([46])_(\d{1,3})$")
SINCE = re.compile(r"^[0-9A-Za-z:.+-]{1,64}$")
MGMT_SETS = ("mgmt4", "mgmt6")


@cache
def templates() -> dict[str, Any]:
    """The parsed ``nftables.toml`` (templates and names)."""
    text = resources.files("irtui.core.firewall").joinpath("nftables.toml").read_text("utf-8")
    return tomllib.loads(text)


def _names() -> dict[str, Any]:
    return dict(templates()["names"])


@cache
def _format(name: str) -> str:
    """Template ``name`` turned once into a ``str.format`` pattern: ``$x``/``${x}`` become
    ``{x}``, ``$$`` a ``$``, literal braces doubled. Filling it is several times faster than
    ``string.Template`` (one line per entry of a 100,000-address feed) with the same result.

    Raises:
        ValueError: an invalid placeholder, as ``Template.substitute`` would.
    """
    text, out, pos = templates()[name], [], 0
    for m in Template.pattern.finditer(text):
        out.append(text[pos:m.start()].replace("{", "{{").replace("}", "}}"))
        key = m.group("named") or m.group("braced")
        if m.group("escaped") is not None:
            out.append("$")
        elif key:
            out.append("{" + key + "}")
        else:
            raise ValueError(f"invalid placeholder in nftables.toml [{name}] at {m.start()}")
        pos = m.end()
    out.append(text[pos:].replace("{", "{{").replace("}", "}}"))
    return "".join(out)


@cache
def _name_values() -> dict[str, Any]:
    return _names()


def _fill(name: str, **values: object) -> str:
    # values override [names], as in Template(...).substitute(_names(), **values)
    return _format(name).format_map({**_name_values(), **values}).strip("\n") + "\n"


def set_name(network: Network) -> str:
    """The set holding entries of ``network``'s family and prefix length, e.g. ``v4_24``."""
    return f"v{network.version}_{network.prefixlen}"


def element(network: Network, ttl: int | None = None) -> str:
    """The set element for ``network`` (its network address; the set implies the length),
    with an optional timeout in seconds."""
    text = address_text(network.network_address)
    return f"{text} timeout {ttl}s" if ttl else text


def _set_rules(name: str) -> str:
    version, length = (int(x) for x in SET_NAME.match(name).groups())  # type: ignore[union-attr]
    match = "ip" if version == 4 else "ip6"
    full = 32 if version == 4 else 128
    zero = "0.0.0.0" if version == 4 else "::"
    mask = "" if length == full else f"& {ipaddress.ip_network(f'{zero}/{length}').netmask} "
    return _fill("add_set", set=name, type="ipv4_addr" if version == 4 else "ipv6_addr") + \
        _fill("set_rules", set=name, match=match, mask=mask)


def _set_order(names: Iterable[str]) -> list[str]:
    """Set names IPv4 first, then longest prefix first (``v4_32``, ``v4_24``, ``v6_128``)."""
    return sorted(names, key=lambda name: (name[1], -int(name.split("_")[1])))


def _by_set(networks: Iterable[Network]) -> dict[str, list[Network]]:
    out: dict[str, list[Network]] = {}
    for net in dict.fromkeys(networks):
        out.setdefault(set_name(net), []).append(net)
    return {name: out[name] for name in _set_order(out)}


def block_script(requests: Iterable[BlockRequest]) -> str:
    """One nft transaction: ensure irtui's table, then for each set the requests touch
    (re)declare the set and its own drop rules (:data:`nftables.toml` ``set_rules``), and
    put each entry in with its timeout. An entry already blocked when the change was planned
    (``refresh``) is added, deleted and added again, which sets its TTL to the one asked
    whatever the kernel does with an ``add`` of an existing element (Linux 6.1 keeps its
    timeout, 6.18 replaces it). A new entry is only created: a third of the kernel's work for
    a feed of 100,000. Should another run add it between the plan's read and this change,
    ``create`` fails the whole transaction (EEXIST): nothing changes, irtui says so
    (:func:`irtui.core.executor.failure_reason`), and a colleague's longer block is never cut
    short by an ``add`` that would replace its timeout. The rules do not depend on what the
    host held, so concurrent changes cannot undo each other's rules.

    Args:
        requests: entries to add; ``ttl`` in seconds or None (permanent). A network given
            twice keeps the last request.
    """
    by_set: dict[str, dict[Network, BlockRequest]] = {}
    for r in requests:  # one pass: a feed of 100,000 is hashed once
        net = r.network
        by_set.setdefault(f"v{net.version}_{net.prefixlen}", {})[net] = r
    parts = [_fill("ensure_table")]
    for name in _set_order(by_set):
        latest = by_set[name]
        parts.append(_set_rules(name))
        again = [(n, r) for n, r in latest.items() if r.refresh]
        new = [(n, r) for n, r in latest.items() if not r.refresh] if again \
            else list(latest.items())
        if again:
            plain = ", ".join(element(n) for n, _ in again)
            parts += [_fill("add_elements", set=name, elements=plain),
                      _fill("delete_elements", set=name, elements=plain),
                      _fill("add_elements", set=name, elements=", ".join(
                          element(n, r.ttl) for n, r in again))]
        if new:
            parts.append(_fill("create_elements", set=name, elements=", ".join(
                element(n, r.ttl) for n, r in new)))
    return "".join(parts)


def unblock_script(networks: Iterable[Network]) -> str:
    """Script removing ``networks`` from irtui's sets, whether or not each is still there
    when it runs (add then delete, one transaction; the set is declared first so even a set
    removed meanwhile cannot fail the script)."""
    parts = [_fill("ensure_table")]
    for name, nets in _by_set(networks).items():
        version = 4 if name.startswith("v4") else 6
        plain = ", ".join(element(n) for n in nets)
        parts += [_fill("add_set", set=name, type=f"ipv{version}_addr"),
                  _fill("add_elements", set=name, elements=plain),
                  _fill("delete_elements", set=name, elements=plain)]
    return "".join(parts)


def isolate_script(policy: IsolationPolicy) -> str:
    """Script creating irtui's isolation table for ``policy`` (refused as a whole, changing
    nothing, when the table already exists).

    Raises:
        ActionError: ``policy.since`` is not a plain ISO 8601 timestamp.
    """
    def elements(version: int) -> str:
        items = [str(n) for n in policy.management if n.version == version]
        return f"elements = {{ {', '.join(items)} }}" if items else ""

    t = templates()
    extra_in = ([t["isolate_nd_input"]] if policy.allow_nd else []) + \
        ([t["isolate_dhcp_input"]] if policy.allow_dhcp else [])
    extra_out = ([t["isolate_nd_output"]] if policy.allow_nd else []) + \
        ([t["isolate_dhcp_output"]] if policy.allow_dhcp else [])
    for net, port in policy.endpoints:
        values = {"match": "ip" if net.version == 4 else "ip6", "network": str(net),
                  "port": port}
        extra_in.append(Template(t["isolate_endpoint_input"]).substitute(values))
        extra_out.append(Template(t["isolate_endpoint_output"]).substitute(values))
    for net in dict.fromkeys(n for n, _ in policy.endpoints if n.version == 6):
        extra_in.append(Template(t["isolate_endpoint_nd_input"]).substitute(network=str(net)))
        extra_out.append(Template(t["isolate_endpoint_nd_output"]).substitute(network=str(net)))
    if not SINCE.match(policy.since):
        raise ActionError(f"isolation start time {policy.since!r} is not an ISO 8601 "
                          "timestamp", "pass the time irtui generated")
    listed = [str(n) for n in policy.management] + [endpoint_text(n, p)
                                                    for n, p in policy.endpoints]
    return _fill("isolate", mgmt4=elements(4), mgmt6=elements(6), since=policy.since,
                 sum=management_sum(listed),
                 input_extra="\n".join(extra_in), output_extra="\n".join(extra_out))


def _network(value: Any, length: int | None = None) -> Network:
    if isinstance(value, str):
        return network_from_text(value, length)
    if isinstance(value, dict) and "prefix" in value:
        prefix = value["prefix"]
        return network_from_text(f"{prefix['addr']}/{prefix['len']}")
    raise ValueError(f"unexpected set element {value!r}")


def _entries(elems: list[Any], length: int, enforcement: Enforcement,
             gaps: list[str]) -> list[BlockEntry]:
    """The set's elements as entries of prefix ``length``. An element with host bits set
    (``203.0.113.7`` in ``v4_24``, only ever written by hand) never equals the masked
    address the drop rule looks up, so it is not enforced; ``gaps`` gets why."""
    entries = []
    for item in elems:
        inner = item["elem"] if isinstance(item, dict) and "elem" in item else {"val": item}
        value = inner["val"]
        network = network_from_text(value, length) if type(value) is str \
            else _network(value, length)
        state = enforcement
        if length != network.max_prefixlen and isinstance(value, str) and "/" not in value \
                and value != str(network.network_address) \
                and network_from_text(value).network_address != network.network_address:
            state = Enforcement.NOT_ENFORCED
            gaps.append(f"v{network.version}_{length}: element {value} has host bits "
                        f"set for /{length}, so the masked drop rule never matches it")
        entries.append(BlockEntry(network, inner.get("timeout"), inner.get("expires"), state))
    return entries


def _set_networks(elems: list[Any]) -> list[Network]:
    """An interval set's elements (addresses, prefixes, ranges) as networks."""
    out: list[Network] = []
    for item in elems:
        if isinstance(item, dict) and "range" in item:
            first, last = (ipaddress.ip_address(x) for x in item["range"])
            out += ipaddress.summarize_address_range(first, last)  # type: ignore[arg-type]
        else:
            out.append(_network(item))
    return out


def _endpoint(rule: dict[str, Any]) -> tuple[Network, int] | None:
    """``(network, port)`` of an endpoint rule (``ip saddr NET ... th dport PORT accept``)."""
    network, port = None, None
    for expr in rule.get("expr", []):
        match = expr.get("match") if isinstance(expr, dict) else None
        payload = (match or {}).get("left", {}).get("payload", {}) if match else {}
        if payload.get("field") in ("saddr", "daddr") and payload.get("protocol") in ("ip",
                                                                                      "ip6"):
            right = match["right"]
            if isinstance(right, str) and right.startswith("@"):
                return None
            with contextlib.suppress(ValueError, KeyError, TypeError):
                network = _network(right)
        elif payload.get("protocol") == "th" and isinstance(match["right"], int):
            port = match["right"]
    return (network, port) if network is not None and port is not None else None


def _isolation(items: list[Any], rules: list[dict[str, Any]], table: str) -> Isolation:
    """The isolation as the ruleset holds it: ``since`` from the loopback rule's comment,
    the management list from the mgmt sets' elements and the endpoint rules (an isolation
    written by an older irtui also kept it in the comment: ``mgmt=a,b``)."""
    since, legacy, fields = "", "", {}
    for rule in rules:
        comment = rule.get("comment", "")
        if "since=" in comment:
            fields = dict(part.split("=", 1) for part in comment.split() if "=" in part)
            since, legacy = fields.get("since", ""), fields.get("mgmt", "")
    nets: list[Network] = []
    for item in items:
        s = item.get("set", {})
        if s.get("table") == table and s.get("name") in MGMT_SETS:
            nets += _set_networks(s.get("elem", []))
    endpoints = dict.fromkeys(e for r in rules if r.get("chain") == "input"
                              and (e := _endpoint(r)) is not None)
    listed = [str(n) for n in collapse(nets)] + [endpoint_text(n, p) for n, p in endpoints]
    if not listed and legacy:
        listed = [m for m in legacy.split(",") if m]
    everything = [str(n) for n in [*collapse(nets), *(n for n, _ in endpoints)]
                  if n.prefixlen == 0]
    if everything:  # irtui refuses such an entry (endpoints.resolve_allow): added by hand
        return Isolation(since, tuple(listed), IsolationStatus.PARTIAL,
                         f"the management list holds {everything[0]}, every address of its "
                         "family (irtui never writes it: added by hand?)")
    if changed := management_changed(listed, fields):
        return Isolation(since, tuple(listed), IsolationStatus.PARTIAL, changed)
    return Isolation(since=since, management=tuple(listed))


def _enforcement(ruleset: NftRuleset, table: str, sets: Iterable[str]
                 ) -> tuple[dict[str, Enforcement], list[str]]:
    """Each irtui set's :class:`Enforcement` and the reasons for those not enforced."""
    flags, why = ruleset.table_flags(table)
    gaps = [why] if why else []
    out: dict[str, Enforcement] = {}
    for name in sets:
        version, length = (int(x) for x in SET_NAME.match(name).groups())  # type: ignore[union-attr]
        problem = nft_set_problem(ruleset, table, name, version, length)
        if problem:
            gaps.append(problem)
        out[name] = Enforcement.NOT_ENFORCED if problem else flags
    return out, gaps


def parse_ruleset(host: str, text: str) -> HostState:
    """Parse ``nft -j list ruleset`` output into a :class:`HostState`.

    Lines before the JSON document (warnings some nft builds print) are skipped.
    ``detail["sets"]`` lists irtui's set names present on the host. Every entry carries its
    set's :class:`Enforcement` (see :mod:`~irtui.core.firewall.enforcement`) and
    ``HostState.gaps`` says why a set is not enforced; an isolation table missing a base
    chain with policy drop (or dormant) is ``PARTIAL``.

    Raises:
        ActionError: the output is not the JSON nft prints.
    """
    start = text.find("{")
    try:
        doc = json.loads(text[start:]) if start >= 0 else {"nftables": []}
        items = doc["nftables"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ActionError(f"{host}: could not parse nft's JSON ruleset ({exc})",
                          "check that nftables on the host supports `nft -j`") from None
    names = _names()
    found: dict[str, tuple[list[Any], int]] = {}
    rules: list[dict[str, Any]] = []
    isolated = False
    for item in items:
        if "set" in item:
            s = item["set"]
            match = SET_NAME.match(s.get("name", ""))
            if s.get("family") == "inet" and s.get("table") == names["table"] and match:
                found[s["name"]] = (s.get("elem", []), int(match.group(2)))
        elif "rule" in item:
            rule = item["rule"]
            if rule.get("table") == names["isolation_table"]:
                rules.append(rule)
                isolated = True
        elif "table" in item and item["table"].get("name") == names["isolation_table"]:
            isolated = True
    isolation = _isolation(items, rules, names["isolation_table"]) if isolated else None
    ruleset = NftRuleset.of(items)
    enforcement, gaps = _enforcement(ruleset, names["table"], found)
    blocks = [entry for name, (elems, length) in found.items()
              for entry in _entries(elems, length, enforcement[name], gaps)]
    blocks.sort(key=sort_key)
    if isolation is not None:
        problem = nft_isolation_problem(ruleset, names["isolation_table"]) \
            or nft_unknown_accept(ruleset, names["isolation_table"])
        if problem:
            isolation = replace(isolation, status=IsolationStatus.PARTIAL, problem=problem)
    return HostState(host=host, blocks=tuple(blocks), isolation=isolation,
                     backend="nftables", detail={"sets": list(found)},
                     gaps=tuple(gaps))


class NftablesBackend(FirewallBackend):
    """nftables (nft(8)): one ``inet`` table for the blocklist, one for isolation.

    nft applies a whole script as one kernel transaction (nft(8), "-f": the batch is
    validated entirely before it is committed), so a failing change leaves the old ruleset in
    force. A block or unblock is therefore that one ``nft -f -``: a separate ``nft -c`` first
    would repeat the same validation (a second lock, process and kernel transaction per host:
    about a third of a block's remote work on 50 hosts). An isolation is still checked with
    ``nft -c -f -`` first, so a script the kernel refuses never arms the rollback timer.
    """

    name = "nftables"
    exact_ttl = True  # an element's "timeout" in `nft -j list` is the TTL it was set with

    def read_command(self) -> Command:
        return Command((NFT, "-j", "list", "ruleset"), "read the nftables ruleset")

    def parse_state(self, host: str, stdout: str) -> HostState:
        return parse_ruleset(host, stdout)

    @staticmethod
    def _checked(script: str, purpose: str) -> list[Command]:
        return [Command((NFT, "-c", "-f", "-"), f"check: {purpose}", script),
                Command((NFT, "-f", "-"), purpose, script)]

    def block_commands(self, requests: list[BlockRequest], state: HostState) -> list[Command]:
        """``nft -f -`` of :func:`block_script`, one atomic transaction (``state`` is not
        needed: the script re-asserts what it touches)."""
        what = describe_networks([r.network for r in requests])
        return [Command((NFT, "-f", "-"), f"add {what} to the blocklist",
                        block_script(requests))]

    def unblock_commands(self, networks: list[Network], state: HostState) -> list[Command]:
        """``nft -f -`` of :func:`unblock_script`, one atomic transaction."""
        return [Command((NFT, "-f", "-"),
                        f"remove {describe_networks(networks)} from the blocklist",
                        unblock_script(networks))]

    def isolate_commands(self, policy: IsolationPolicy, state: HostState) -> list[Command]:
        return self._checked(isolate_script(policy),
                             "isolate (drop all but management traffic)")

    def release_commands(self, state: HostState) -> list[Command]:
        return [Command((NFT, "delete", "table", "inet", _names()["isolation_table"]),
                        "remove irtui's isolation table")]

    def rollback_command(self) -> Command:
        return run_script("nft_rollback", _names()["isolation_table"],
                          purpose="remove irtui's isolation table")
