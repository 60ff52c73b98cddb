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


def refusal(network: Network, protected: Iterable[Network] = ()) -> str | None:
    """Return why ``network`` must not be blocked, or None if it may be.

    Refused (RFC 6890 special-purpose registries): loopback, link-local, multicast, the
    unspecified address, and anything overlapping a protected (management) network.
    """
    checks = (
        ("loopback", network.is_loopback),
        ("link-local", network.is_link_local),
        ("multicast", network.is_multicast),
        ("unspecified", network.network_address.is_unspecified),
    )
    for name, hit in checks:
        if hit:
            return f"{network} is {name} (RFC 6890); blocking it would break the host itself"
    for mgmt in protected:
        if mgmt.version == network.version and mgmt.overlaps(network):
            return (f"{network} overlaps the management network {mgmt} "
                    "(isolation.allow); blocking it would cut the responder off")
    return None
