"""Backend-neutral live firewall state of one host, as read back from the host."""

from __future__ import annotations

import enum
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from socket import inet_ntoa

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """``str(address)``; an IPv4 address through ``inet_ntoa(3)``, which writes the same
    dotted decimal (POSIX) in half the time: a feed of 100,000 is written several times."""
    if type(address) is ipaddress.IPv4Address:
        return inet_ntoa(address.packed)
    return str(address)


def entry_text(network: Network) -> str:
    """``network`` as users, conntrack(8) and ``ipset save`` write it: the bare address for
    a /32 or /128, else ``address/prefixlen``. Always rendered from the normalised value."""
    if network.prefixlen == network.max_prefixlen:
        return address_text(network.network_address)
    return str(network)


def describe_networks(networks: Sequence[Network]) -> str:
    """A short list for plan lines and logs: all of up to three entries, else the count and
    the first two (``10 entries (203.0.113.7, 203.0.113.8, …)``)."""
    if len(networks) <= 3:
        return ", ".join(entry_text(n) for n in networks)
    return (f"{len(networks)} entries ({entry_text(networks[0])}, "
            f"{entry_text(networks[1])}, …)")


class Enforcement(enum.Enum):
    """Whether the host's firewall actually drops an entry's traffic, as read back: its set
    is matched by a drop rule in every direction irtui covers (in from it, out to it,
    forwarded both ways) that packets reach (no earlier rule of the chain can accept them, the
    chain is hooked, the jump to it comes first)."""

    ENFORCED = "enforced"
    NOT_ENFORCED = "not enforced"
    UNKNOWN = "unknown"
    """The read-back could not tell (e.g. nft printed table flags it could not read)."""


@dataclass(frozen=True)
class BlockEntry:
    """One blocklist entry on one host.

    Attributes:
        network: the blocked address or prefix (a single address is a /32 or /128).
        timeout: the TTL the entry was added with, in seconds; None if permanent.
        expires: seconds left when the state was read; None if permanent.
        enforcement: whether the rules that make the set drop traffic are in place (see
            :class:`Enforcement`); only ``ENFORCED`` counts as blocked.
    """

    network: Network
    timeout: int | None = None
    expires: int | None = None
    enforcement: Enforcement = Enforcement.UNKNOWN

    @property
    def family(self) -> int:
        """4 or 6."""
        return self.network.version

    @property
    def text(self) -> str:
        """The entry as a user writes it (see :func:`entry_text`)."""
        return entry_text(self.network)

    @property
    def enforced(self) -> bool:
        """True only when the read-back found the entry's drop rules in force."""
        return self.enforcement is Enforcement.ENFORCED


class IsolationStatus(enum.Enum):
    """irtui's isolation on a host, as read back."""

    NORMAL = "normal"
    """No piece of irtui's isolation is present."""
    ISOLATED = "isolated"
    """Every piece is present in every IP family the host has."""
    PARTIAL = "partial"
    """Some pieces are present, not all (e.g. IPv4 isolated, IPv6 not): traffic is neither
    cut nor normal. ``release`` removes what is there."""


@dataclass(frozen=True)
class Isolation:
    """irtui's isolation on a host: when it started (ISO 8601 UTC, as recorded in the
    ruleset), which management addresses stay reachable, whether it is complete, and for a
    partial one what is missing."""

    since: str
    management: tuple[str, ...] = ()
    status: IsolationStatus = IsolationStatus.ISOLATED
    problem: str = ""


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
        gaps: one line per reason some entries are not enforced (``v4_24: no drop rule in
            an output chain``), empty when every entry is enforced.
    """

    host: str
    blocks: tuple[BlockEntry, ...] = ()
    isolation: Isolation | None = None
    read_at: float = field(default_factory=time.time)
    backend: str = ""
    detail: dict[str, object] = field(default_factory=dict)
    gaps: tuple[str, ...] = ()

    @property
    def isolated(self) -> bool:
        """True when irtui's isolation is complete (a partial one is not isolation)."""
        return self.isolation_status is IsolationStatus.ISOLATED

    @property
    def isolation_status(self) -> IsolationStatus:
        """``NORMAL``, ``ISOLATED`` or ``PARTIAL``."""
        return IsolationStatus.NORMAL if self.isolation is None else self.isolation.status

    @property
    def not_enforced(self) -> tuple[BlockEntry, ...]:
        """The entries in irtui's sets that the firewall does not (or may not) enforce."""
        return tuple(e for e in self.blocks if not e.enforced)

    @cached_property
    def _index(self) -> dict[Network, BlockEntry]:
        return {entry.network: entry for entry in self.blocks}

    def find(self, network: Network) -> BlockEntry | None:
        """Return the entry blocking exactly ``network``, if any (O(1): indexed once)."""
        return self._index.get(network)
