"""Validate IOC addresses and CIDRs given by the user, and refuse dangerous ones."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from irtui.core.errors import InvalidTargetError
from irtui.core.firewall.state import Network


def parse_network(text: str) -> tuple[Network, str | None]:
    """Parse an IPv4/IPv6 address or CIDR (Python ``ipaddress``, RFC 4632 / RFC 4291 notation).

    Args:
        text: e.g. ``203.0.113.7``, ``198.51.100.0/24``, ``2001:db8::/32``.

    Returns:
        ``(network, note)``: the normalised network and, when host bits were set
        (``203.0.113.7/24``), a note saying what it was normalised to; else None.

    Raises:
        InvalidTargetError: not an address or CIDR.
    """
    value = text.strip()
    try:
        strict = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidTargetError(
            f"{text!r} is not an IP address or CIDR",
            "give an IPv4/IPv6 address or prefix, e.g. 203.0.113.7 or 2001:db8::/32",
        ) from None
    note = None
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            note = f"{value} has host bits set; using {strict}"
    return strict, note


SPECIAL_NETWORKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (RFC 6890)"),
    ("127.0.0.0/8", "loopback (RFC 6890)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("255.255.255.255/32", "the limited broadcast address (RFC 919)"),
    ("::/128", "the unspecified address (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)
"""Ranges a block may never overlap: blocking any part of them breaks the host itself."""

_SPECIAL = [(ipaddress.ip_network(net), name) for net, name in SPECIAL_NETWORKS]


def refusal(network: Network, protected: Iterable[Network] = ()) -> str | None:
    """Return why ``network`` must not be blocked, or None if it may be.

    Refused: anything overlapping :data:`SPECIAL_NETWORKS` (loopback, link-local, multicast,
    'this network', limited broadcast, unspecified) or a protected (management) network.
    Overlap, not containment, is checked, so ``0.0.0.0/1`` is refused as well.
    """
    for special, name in _SPECIAL:
        if special.version == network.version and special.overlaps(network):
            return f"{network} overlaps {special}, {name}; blocking it would break the host"
    for mgmt in protected:
        if mgmt.version == network.version and mgmt.overlaps(network):
            return (f"{network} overlaps the management network {mgmt} "
                    "(isolation.allow); blocking it would cut the responder off")
    return None


def looks_like_address(text: str) -> bool:
    """True when ``text`` is meant as an IP address/CIDR rather than a DNS name (only digits,
    dots and a prefix, or any colon), so a typo like ``300.1.1.1`` is reported as a bad
    address instead of being looked up in DNS."""
    value = text.strip()
    return ":" in value or all(c.isdigit() or c in "./" for c in value)
