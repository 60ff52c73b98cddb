"""The interface every firewall backend implements, and the registry of backends.

A backend only builds commands and parses what the host prints: it never talks to the
network itself (it never imports :mod:`irtui.core.ssh`). The actions run the commands over
SSH, so each backend can be unit-tested on text and lab-tested through the same executor.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from irtui.core.endpoints import join_port
from irtui.core.firewall.state import HostState, Network
from irtui.core.remote import Command

__all__ = ["BlockRequest", "Command", "FirewallBackend", "IsolationPolicy", "backend_named",
           "backend_names", "collapse", "endpoint_text", "register"]


@dataclass(frozen=True)
class BlockRequest:
    """One entry to block: ``network`` for ``ttl`` seconds (None = permanent).
    ``refresh`` is True when it is already blocked and only its TTL is renewed."""

    network: Network
    ttl: int | None
    refresh: bool = False


def collapse(networks: Iterable[Network]) -> tuple[Network, ...]:
    """``networks`` without overlaps, per family (``ipaddress.collapse_addresses``): IPv4
    first, then IPv6, each in address order. A session address inside an allowed CIDR
    disappears into it (nft's interval sets refuse overlapping elements: "conflicting
    intervals specified")."""
    nets = list(networks)
    return tuple(n for version in (4, 6)
                 for n in ipaddress.collapse_addresses(x for x in nets if x.version == version))


def endpoint_text(network: Network, port: int) -> str:
    """An endpoint as the config and ``--management`` write it: ``net:port`` for IPv4,
    ``[net]:port`` for IPv6."""
    return join_port(str(network), port)


def management_sum(listed: Iterable[str]) -> str:
    """12 hex digits of SHA-256 over a management list as a read-back lists it (networks and
    endpoints as text, any order). Written in the isolation's comment, so a read-back tells
    the list irtui applied from one widened by hand (an element added to a set, a RETURN
    rule inserted), which the rules' shapes alone cannot show. Not a secret: it catches a
    change made without irtui, not an attacker who recomputes it."""
    return hashlib.sha256("\n".join(sorted(set(listed))).encode()).hexdigest()[:12]


def management_changed(listed: Iterable[str], comment_fields: dict[str, str]) -> str:
    """Why ``listed`` (read back) is not the management list irtui applied, per the
    ``sum=`` of its comment (:func:`management_sum`); ``""`` when it is, or when the
    isolation predates the sum."""
    listed = list(listed)
    want = comment_fields.get("sum", "")
    if not want or management_sum(listed) == want:
        return ""
    return (f"the management allowlist is not the one irtui applied (now: "
            f"{', '.join(listed) or 'empty'}): changed by hand? Whatever was added there "
            "reaches the isolated host")


@dataclass(frozen=True)
class IsolationPolicy:
    """What stays reachable during isolation. ``management`` is collapsed on construction
    (see :func:`collapse`) and ``endpoints`` lose duplicates, so every backend renders the
    same normalised lists.

    Attributes:
        management: networks allowed in both directions (any port, any state).
        since: ISO 8601 UTC start time, recorded in the ruleset.
        allow_dhcp: keep DHCPv4 (RFC 2131, UDP 67/68) to and from the limited broadcast
            address only, and DHCPv6 (RFC 8415, UDP 546/547) between link-local addresses and
            the All_DHCP_Relay_Agents_and_Servers group ff02::1:2; a DHCP server that
            answers by unicast from a routable address must be in ``management``.
        allow_nd: keep IPv6 neighbour discovery (RFC 4861 ICMPv6 types 133-137) with hop
            limit 255 (§7.1.1, 7.1.2) from link-local or unspecified sources and to
            link-local or multicast destinations.
        endpoints: ``(network, port)`` pairs allowed only on that TCP/UDP port, on either side
            (so ``mgmt:22`` covers SSH into the host and ``edr:443`` its agent calling out).
    """

    management: tuple[Network, ...]
    since: str
    allow_dhcp: bool = True
    allow_nd: bool = True
    endpoints: tuple[tuple[Network, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "management", collapse(self.management))
        object.__setattr__(self, "endpoints", tuple(dict.fromkeys(self.endpoints)))

    def listed(self) -> list[str]:
        """What stays reachable, as :attr:`Isolation.management` reads it back: ``net``,
        ``net:port`` or ``[v6net]:port``."""
        return [str(n) for n in self.management] + [endpoint_text(n, port)
                                                    for n, port in self.endpoints]


class FirewallBackend(ABC):
    """Builds commands for one firewall technology and parses its state.

    Contract:
    - ``read_command()`` prints everything :meth:`parse_state` needs; it must succeed (exit 0)
      on a host where irtui never ran, and it changes nothing.
    - ``block_commands``/``unblock_commands`` apply all entries as one atomic transaction per
      host (nft validates a whole ``-f`` batch before committing it; iptables-restore input is
      checked with ``--test`` first); if the apply fails, the previous rules stay.
    - Expiry is enforced by the host (set/ipset timeouts).
    - ``release_commands`` removes exactly what ``isolate_commands`` added.
    - ``rollback_command`` runs a shipped script that removes the isolation; the
      commit-confirmed timer on the host runs it too. It must be safe to run when no
      isolation exists, and never fail.
    """

    name: ClassVar[str]
    exact_ttl: ClassVar[bool] = False
    """True when the state read gives each entry's TTL as it was set
    (``BlockEntry.timeout``), not only the time left, so a read-back can check it."""

    @abstractmethod
    def read_command(self) -> Command:
        """The read-only command whose stdout :meth:`parse_state` understands."""

    @abstractmethod
    def parse_state(self, host: str, stdout: str) -> HostState:
        """Parse the read command's output; tolerate comment and warning lines.

        Raises:
            ActionError: the output cannot be understood.
        """

    @abstractmethod
    def block_commands(self, requests: list[BlockRequest], state: HostState) -> list[Command]:
        """Commands adding (or refreshing) ``requests``; ``state`` is the live state read
        just before, so the commands can be exact (no blind deletes)."""

    @abstractmethod
    def unblock_commands(self, networks: list[Network], state: HostState) -> list[Command]:
        """Commands removing ``networks`` (each currently present in ``state``)."""

    @abstractmethod
    def isolate_commands(self, policy: IsolationPolicy, state: HostState) -> list[Command]:
        """Commands applying isolation atomically."""

    @abstractmethod
    def release_commands(self, state: HostState) -> list[Command]:
        """Commands removing exactly irtui's isolation."""

    @abstractmethod
    def rollback_command(self) -> Command:
        """A ``run_script`` command that removes irtui's isolation (idempotent)."""


_REGISTRY: dict[str, FirewallBackend] = {}


def register(backend: FirewallBackend) -> None:
    """Make ``backend`` available under ``backend.name``."""
    _REGISTRY[backend.name] = backend


def backend_named(name: str) -> FirewallBackend:
    """Return the backend called ``name`` (``nftables``, ``iptables-nft``, ``iptables-legacy``).

    Raises:
        KeyError: unknown name.
    """
    _load_builtin()
    return _REGISTRY[name]


def backend_names() -> list[str]:
    """Names of all registered backends."""
    _load_builtin()
    return sorted(_REGISTRY)


_LOADING = threading.Lock()
_LOADED: list[bool] = []  # [True] once every built-in backend is registered


def _load_builtin() -> None:
    # hosts are probed in parallel threads: one of them saw the registry half filled
    # (nftables only) and a forced iptables-legacy raised KeyError
    if _LOADED:
        return
    with _LOADING:
        if _LOADED:
            return
        from irtui.core.firewall import iptables, nftables

        register(nftables.NftablesBackend())
        for backend in iptables.backends():
            register(backend)
        _LOADED.append(True)
