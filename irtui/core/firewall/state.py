"""Backend-neutral live firewall state of one host, as read back from the host."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def entry_text(network: Network) -> str:
    """``network`` as users, conntrack(8) and ``ipset save`` write it: the bare address for
    a /32 or /128, else ``address/prefixlen``. Always rendered from the normalised value."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def describe_networks(networks: Sequence[Network]) -> str:
    """A short list for plan lines and logs: all of up to three entries, else the count and
    the first two (``10 entries (203.0.113.7, 203.0.113.8, …)``)."""
    if len(networks) <= 3:
        return ", ".join(entry_text(n) for n in networks)
    return (f"{len(networks)} entries ({entry_text(networks[0])}, "
            f"{entry_text(networks[1])}, …)")


@dataclass(frozen=True)
class BlockEntry:
    """One blocklist entry on one host.

    Attributes:
        network: the blocked address or prefix (a single address is a /32 or /128).
        timeout: the TTL the entry was added with, in seconds; None if permanent.
        expires: seconds left when the state was read; None if permanent.
    """

    network: Network
    timeout: int | None = None
    expires: int | None = None

    @property
    def family(self) -> int:
        """4 or 6."""
        return self.network.version

    @property
    def text(self) -> str:
        """The entry as a user writes it (see :func:`entry_text`)."""
        return entry_text(self.network)


@dataclass(frozen=True)
class Isolation:
    """irtui's isolation on a host: when it started (ISO 8601 UTC, as recorded in the
    ruleset) and which management addresses stay reachable."""

    since: str
    management: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostState:
    """What a host's firewall says right now.

    Attributes:
        host: host name from the config.
        blocks: irtui's blocklist entries on the host.
        isolation: irtui's isolation if present, else None.
        read_at: ``time.time()`` when the state was read (seconds since the epoch).
        backend: the backend that read it (``nftables``, ``iptables-nft``, ...).
        detail: backend-specific facts for planning exact commands (e.g. which jump rules
            exist), never needed by the fronts.
    """

    host: str
    blocks: tuple[BlockEntry, ...] = ()
    isolation: Isolation | None = None
    read_at: float = field(default_factory=time.time)
    backend: str = ""
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def isolated(self) -> bool:
        """True when irtui's isolation is in place."""
        return self.isolation is not None

    @cached_property
    def _index(self) -> dict[Network, BlockEntry]:
        return {entry.network: entry for entry in self.blocks}

    def find(self, network: Network) -> BlockEntry | None:
        """Return the entry blocking exactly ``network``, if any (O(1): indexed once)."""
        return self._index.get(network)
