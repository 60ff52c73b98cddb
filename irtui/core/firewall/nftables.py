"""nftables backend: scripts for ``nft -f -`` built from ``nftables.toml``, and the parser
for ``nft -j list ruleset`` (libnftables-json(5))."""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from irtui.core.errors import ActionError
from irtui.core.firewall.state import BlockEntry, HostState, Isolation, Network

NFT = "nft"
READ_ARGV = (NFT, "-j", "list", "ruleset")
APPLY_ARGV = (NFT, "-f", "-")
CHECK_ARGV = (NFT, "-c", "-f", "-")


@cache
def templates() -> dict[str, Any]:
    """The parsed ``nftables.toml`` (templates and names)."""
    text = resources.files("irtui.core.firewall").joinpath("nftables.toml").read_text("utf-8")
    return tomllib.loads(text)


def _names() -> dict[str, Any]:
    return dict(templates()["names"])


def _fill(name: str, **values: object) -> str:
    return Template(templates()[name]).substitute(_names(), **values).strip() + "\n"


def set_name(network: Network) -> str:
    """``block4`` or ``block6`` for the network's family."""
    return f"block{network.version}"


def element(network: Network, ttl: int | None = None) -> str:
    """The set element text for ``network`` with an optional timeout in seconds."""
    text = str(network.network_address) if network.prefixlen == network.max_prefixlen \
        else str(network)
    return f"{text} timeout {ttl}s" if ttl else text


def block_script(networks: Iterable[Network], ttl: int | None) -> str:
    """Script that ensures irtui's table, sets and drop rules, then adds ``networks``.

    Args:
        networks: validated networks (any mix of families).
        ttl: seconds until the host's kernel removes the entries; None for permanent.

    Returns:
        One nft script, applied as a single atomic transaction by ``nft -f``.
    """
    lines = [_fill("ensure_blocklist")]
    for net in networks:
        lines.append(_fill("add_element", set=set_name(net), element=element(net, ttl)))
    return "".join(lines)


def unblock_script(networks: Iterable[Network]) -> str:
    """Script deleting ``networks`` from irtui's sets (fails if one is absent: nft(8))."""
    return "".join(_fill("delete_element", set=set_name(net), element=element(net))
                   for net in networks)


def isolate_script(management: Iterable[Network], since: str) -> str:
    """Script creating irtui's isolation table.

    Args:
        management: networks that stay reachable in both directions.
        since: ISO 8601 UTC timestamp recorded in the ruleset.
    """
    mgmt = list(management)
    def elements(version: int) -> str:
        items = [element(n) for n in mgmt if n.version == version]
        return f"elements = {{ {', '.join(items)} }}" if items else ""
    listed = ",".join(element(n) for n in mgmt)
    return _fill("isolate", mgmt4=elements(4), mgmt6=elements(6), since=since, mgmt_list=listed)


def release_argv() -> tuple[str, ...]:
    """argv removing exactly irtui's isolation table."""
    return (NFT, "delete", "table", "inet", _names()["isolation_table"])


def _network(value: Any) -> Network:
    if isinstance(value, str):
        return ipaddress.ip_network(value, strict=False)
    if isinstance(value, dict) and "prefix" in value:
        prefix = value["prefix"]
        return ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}", strict=False)
    if isinstance(value, dict) and "range" in value:
        low, high = (ipaddress.ip_address(v) for v in value["range"])
        nets = list(ipaddress.summarize_address_range(low, high))
        if len(nets) == 1:
            return nets[0]
        raise ValueError(f"range {low}-{high} is not one prefix")
    raise ValueError(f"unexpected set element {value!r}")


def _block_entries(elems: list[Any]) -> list[BlockEntry]:
    entries = []
    for item in elems:
        if isinstance(item, dict) and "elem" in item:
            inner = item["elem"]
            entries.append(BlockEntry(_network(inner["val"]), inner.get("timeout"),
                                      inner.get("expires")))
        else:
            entries.append(BlockEntry(_network(item)))
    return entries


def parse_ruleset(host: str, text: str) -> HostState:
    """Parse ``nft -j list ruleset`` output into a :class:`HostState`.

    Lines before the JSON document (warnings some nft builds print) are skipped.

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
    blocks: list[BlockEntry] = []
    isolation: Isolation | None = None
    for item in items:
        if "set" in item:
            s = item["set"]
            if s.get("family") == "inet" and s.get("table") == names["table"] \
                    and s.get("name") in ("block4", "block6"):
                blocks.extend(_block_entries(s.get("elem", [])))
        elif "rule" in item:
            rule = item["rule"]
            comment = rule.get("comment", "")
            if rule.get("table") == names["isolation_table"] and "since=" in comment:
                fields = dict(part.split("=", 1) for part in comment.split() if "=" in part)
                mgmt = tuple(m for m in fields.get("mgmt", "").split(",") if m)
                isolation = Isolation(since=fields.get("since", ""), management=mgmt)
        elif "table" in item:
            table = item["table"]
            if table.get("name") == names["isolation_table"] and isolation is None:
                isolation = Isolation(since="")
    blocks.sort(key=lambda e: (e.family, e.network))
    return HostState(host=host, blocks=tuple(blocks), isolation=isolation)
