"""Guardrails: which entries a block may never cover, and why.

Every refusal names the rule that matched, so the responder can tell a typo from policy.
Special-purpose ranges come from :data:`irtui.core.targets.SPECIAL_NETWORKS`; the config
adds ``isolation.allow`` and ``firewall.never_block``; the machine irtui runs on adds its
own addresses; each host adds its own addresses, gateways, resolvers and the responder's
session address (its preflight facts).
"""

from __future__ import annotations

from collections.abc import Sequence

from irtui.core.endpoints import split_port
from irtui.core.errors import InvalidTargetError
from irtui.core.firewall.state import Network
from irtui.core.ioc_paste import refang
from irtui.core.local_addresses import local_networks
from irtui.core.plan import EntryFate, EntryStatus
from irtui.core.settings import Config
from irtui.core.targets import parse_network

MAX_REFANG_NOTES = 5
"""Plan notes that show a defanged IOC read as an address; more are counted."""

Guard = list[tuple[Network, str]]
"""Protected networks, each with the name of the rule that protects it."""


def config_guard(config: Config) -> Guard:
    """The guardrails from the config: literal ``isolation.allow`` networks and
    ``firewall.never_block``, normalised like every block target (an IPv4-mapped entry
    protects the IPv4 range it stands for). DNS names are not resolved here.

    A port-scoped allow entry (``198.51.100.0/24:22``) protects its whole network: a block
    drops every port of an address in both directions, so blocking any address inside it
    would cut that management endpoint too. The rule's name says which port is protected.
    """
    guard: Guard = []
    for entry in config.isolation.allow:
        host, port = split_port(entry)
        try:
            network, _ = parse_network(host)
        except InvalidTargetError:
            continue  # a DNS name (the config refuses anything else)
        guard.append((network, "isolation.allow (a management network)" if port is None else
                      f"isolation.allow: management endpoint {entry} (port {port}); a block "
                      "drops every port of an address, so it would cut that endpoint"))
    guard += [(parse_network(a)[0], "firewall.never_block")
              for a in config.firewall.never_block]
    return guard


LOCAL_RULE = ("an address of the machine irtui runs on (the jump host): blocking it would "
              "cut the host off from it")
"""The rule that protects :func:`irtui.core.local_addresses.local_networks`."""


def jump_host_guard() -> Guard:
    """This machine's own addresses (:func:`~irtui.core.local_addresses.local_networks`),
    protected everywhere like the session address is on each host."""
    return [(net, LOCAL_RULE) for net in local_networks()]


def guard_hit(net: Network, guard: Guard) -> str | None:
    """Why ``net`` must not be blocked under ``guard`` (it overlaps a protected network:
    overlap, not containment, so a covering prefix is refused too), or None."""
    for protected, rule in guard:
        if protected.version == net.version and protected.overlaps(net):
            return f"overlaps {protected}, {rule}"
    return None


def parse_targets(targets: Sequence[str], notes: list[str]
                  ) -> tuple[list[Network], dict[str, EntryStatus]]:
    """Validate ``targets`` (addresses/CIDRs as typed, pasted or read from a feed); pasted
    IOCs are refanged first (:func:`irtui.core.ioc_paste.refang`).

    Args:
        notes: receives one line per normalisation (e.g. host bits cleared).

    Returns:
        The distinct networks in input order, and ``{input text: refused status}`` for the
        inputs that are not addresses.

    Raises:
        InvalidTargetError: no target at all.
    """
    if not targets:
        raise InvalidTargetError("no address given", "name an IP address or CIDR to act on")
    networks: list[Network] = []
    seen: set[Network] = set()
    refused: dict[str, EntryStatus] = {}
    refanged: list[str] = []
    for text in targets:
        try:
            candidate = refang(text)
        except InvalidTargetError as exc:
            refused[text.strip()] = EntryStatus(EntryFate.REFUSED, exc.line)
            continue
        try:
            net, note = parse_network(candidate)
        except InvalidTargetError as exc:
            # name the token as given, not what was left of it after refanging ('$(id')
            why = exc.problem.replace(repr(candidate), repr(text.strip()), 1)
            refused[text.strip()] = EntryStatus(EntryFate.REFUSED, why)
            continue
        if candidate != text.strip():
            refanged.append(f"{text.strip()} read as {candidate}")
        if note:
            notes.append(note)
        if net not in seen:
            seen.add(net)
            networks.append(net)
    notes += refanged[:MAX_REFANG_NOTES]
    if len(refanged) > MAX_REFANG_NOTES:
        notes.append(f"… and {len(refanged) - MAX_REFANG_NOTES} more defanged entries read as "
                     "addresses")
    return networks, refused
