"""A fast, exact screen for the guardrails on large inputs.

The guardrails (:func:`~irtui.core.targets.refusal`,
:func:`~irtui.core.actions.guardrails.guard_hit`) compare each entry with every protected
network through ``ipaddress`` (``overlaps``: Python-level comparisons): fine for ten entries,
seconds for a 100,000-address feed. :class:`OverlapIndex` answers the same question, "does
this entry overlap any of these networks?", with integer intervals and a binary search, so
the guardrail functions only run for the entries that do overlap one (and still decide, and
name the rule, for those). It never says "no" when a protected network overlaps: a network
is the interval [first address, last address], and two such intervals overlap exactly when
the networks do.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable

from irtui.core.firewall.state import Network
from irtui.core.targets import SPECIAL_NETWORKS

SPECIAL: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n, _ in SPECIAL_NETWORKS)
"""The ranges :func:`~irtui.core.targets.refusal` refuses, as networks."""


def _interval(net: Network) -> tuple[int, int]:
    first = int(net.network_address)
    return first, first | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)


class OverlapIndex:
    """Networks of both families, merged into sorted disjoint intervals per family."""

    def __init__(self, networks: Iterable[Network]) -> None:
        nets = list(networks)
        self._starts: dict[int, list[int]] = {4: [], 6: []}
        self._ends: dict[int, list[int]] = {4: [], 6: []}
        for version in (4, 6):
            for first, last in sorted(_interval(n) for n in nets if n.version == version):
                ends = self._ends[version]
                if ends and first <= ends[-1] + 1:
                    ends[-1] = max(ends[-1], last)
                else:
                    self._starts[version].append(first)
                    ends.append(last)

    def overlaps(self, net: Network) -> bool:
        """True when ``net`` shares at least one address with an indexed network."""
        first, last = _interval(net)
        starts = self._starts[net.version]
        i = bisect_right(starts, last) - 1  # the last interval starting at or before `last`
        return i >= 0 and self._ends[net.version][i] >= first
