"""Validate IOC addresses and CIDRs given by the user, and refuse dangerous ones.

Every firewall value irtui renders comes from the :class:`ipaddress` object returned here,
never from the text the responder typed. Text ``ipaddress`` accepts but a firewall cannot
enforce as written is refused (IPv6 scope ids, IPv4-compatible IPv6) or mapped to what the
kernel sees (IPv4-mapped IPv6 becomes IPv4), each with its reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from irtui.core.errors import InvalidTargetError
from irtui.core.firewall.fastnet import network_from_text
from irtui.core.firewall.state import Network

IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
"""IPv4-mapped IPv6 (RFC 4291 §2.5.5.2): how a dual-stack socket shows an IPv4 peer. Such
packets travel as IPv4, so an IPv6 rule never sees them."""
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
"""IPv4-compatible IPv6 (RFC 4291 §2.5.5.1, deprecated): never used on the wire today."""
_UNSPECIFIED_AND_LOOPBACK = ipaddress.IPv6Network("::/127")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def _bad(text: str, problem: str, fix: str) -> InvalidTargetError:
    return InvalidTargetError(f"{text!r} {problem}", fix)


def normalise_network(network: Network, text: str = "") -> tuple[Network, str | None]:
    """Turn a parsed network into the value a firewall enforces exactly.

    Args:
        network: from :func:`ipaddress.ip_network` (a DNS answer, a probe fact, user text).
        text: what the user wrote, for messages (default: ``str(network)``).

    Returns:
        ``(network, note)``: IPv4-mapped IPv6 (``::ffff:a.b.c.d``, a prefix of length 96 or
        more inside ``::ffff:0:0/96``) becomes the IPv4 network it stands for, because its
        packets arrive as IPv4 (RFC 4291 §2.5.5.2); 6to4 (RFC 3056), NAT64 (RFC 6052,
        RFC 8215) and Teredo (RFC 4380) addresses stay IPv6 with a note that the IPv4 host
        they embed is not blocked by it. Otherwise the network itself and None.

    Raises:
        InvalidTargetError: an IPv6 scope id (``%eth0``: a firewall rule has none); an
            IPv6 prefix shorter than /96 that covers IPv4-mapped addresses (that part would
            never match); IPv4-compatible IPv6 (``::a.b.c.d``, deprecated by RFC 4291
            §2.5.5.1, so it would match nothing real).
    """
    shown = text.strip() or str(network)
    if network.version == 4:
        return network, None
    if network.network_address.scope_id:
        raise _bad(shown, f"has an IPv6 scope id ({'%' + network.network_address.scope_id!r}); "
                   "a firewall rule has no interface scope",
                   "give the address without %<zone>; a block applies on every interface")
    if network.subnet_of(IPV4_MAPPED):
        v4 = ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF,
                                    network.prefixlen - 96))
        return v4, (f"{shown} is IPv4-mapped IPv6 (RFC 4291 §2.5.5.2): its packets arrive "
                    f"as IPv4, so it is blocked as {v4}")
    if network.overlaps(IPV4_MAPPED) and not network.overlaps(_UNSPECIFIED_AND_LOOPBACK):
        raise _bad(shown, f"covers IPv4-mapped addresses ({IPV4_MAPPED}, RFC 4291 §2.5.5.2), "
                   "whose packets arrive as IPv4, so that part would never match",
                   f"block the IPv4 range itself, or a prefix of /{IPV4_MAPPED.prefixlen} or "
                   "longer")
    if network.subnet_of(IPV4_COMPATIBLE) and not network.overlaps(_UNSPECIFIED_AND_LOOPBACK):
        v4 = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        raise _bad(shown, "is IPv4-compatible IPv6 (::a.b.c.d, deprecated by RFC 4291 "
                   "§2.5.5.1); no packet carries it today",
                   f"block the IPv4 address ({v4}) instead")
    return network, _embedded_note(network)


def _embedded_note(network: Network) -> str | None:
    addr = network.network_address
    assert isinstance(addr, ipaddress.IPv6Address)
    only = "it is blocked as IPv6 only (the IPv4 address is a separate block)"
    if network.subnet_of(_NAT64):
        v4 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        return f"{network} is NAT64 (RFC 6052) for IPv4 {v4}; {only}"
    if network.subnet_of(_NAT64_LOCAL):
        return f"{network} is a local-use NAT64 prefix (RFC 8215); {only}"
    if network.subnet_of(_SIX_TO_FOUR):
        embedded = f" for IPv4 {addr.sixtofour}" if network.prefixlen >= 48 else ""
        return f"{network} is 6to4 (RFC 3056){embedded}; {only}"
    if network.subnet_of(_TEREDO):
        teredo = addr.teredo if network.prefixlen == 128 else None
        client = f" for client IPv4 {teredo[1]}" if teredo else ""
        return f"{network} is Teredo (RFC 4380){client}; {only}"
    return None


def parse_network(text: str) -> tuple[Network, str | None]:
    """Parse an IPv4/IPv6 address or CIDR (Python ``ipaddress``, RFC 4632 / RFC 4291 notation)
    into the normalised network a firewall enforces exactly (see :func:`normalise_network`).

    Args:
        text: e.g. ``203.0.113.7``, ``198.51.100.0/24``, ``2001:db8::/32``.

    Returns:
        ``(network, note)``: the normalised network and a note when it differs from what was
        written (host bits set: ``203.0.113.7/24``; IPv4-mapped: ``::ffff:203.0.113.7``) or
        embeds an IPv4 address it does not block (6to4, NAT64, Teredo); else None.

    Raises:
        InvalidTargetError: not an address or CIDR, an IPv6 scope id, IPv4-compatible IPv6,
            or an IPv6 prefix covering IPv4-mapped space (see :func:`normalise_network`).
    """
    value = text.strip()
    if "%" in value:
        zone = value[value.index("%"):].split("/")[0]
        raise _bad(value, f"has an IPv6 scope id ({zone!r}); a firewall rule has no "
                   "interface scope",
                   "give the address without %<zone>; a block applies on every interface")
    try:
        strict = network_from_text(value)  # = ip_network(value, strict=False), faster
    except ValueError:
        raise InvalidTargetError(
            f"{text!r} is not an IP address or CIDR",
            "give an IPv4/IPv6 address or prefix, e.g. 203.0.113.7 or 2001:db8::/32",
        ) from None
    notes = []
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            notes.append(f"{value} has host bits set; using {strict}")
    network, special = normalise_network(strict, value)
    if special:
        notes.append(special)
    return network, "; ".join(notes) or None


def covers_everything(network: Network) -> bool:
    """True for a /0 (``0.0.0.0/0``, ``::/0``): every address of its family."""
    return network.prefixlen == 0


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
