"""Network endpoints as the responder writes them: ``addr``, ``cidr``, ``name``, each
optionally with ``:port`` (``[v6]:port`` for IPv6), parsed into typed values.

One parser serves the config (``isolation.allow``, ``isolation.canaries``) and the actions
(``--management``, ``--canary``), so both accept exactly the same text.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from irtui.core.errors import InvalidTargetError
from irtui.core.firewall.state import Network
from irtui.core.targets import (
    covers_everything,
    looks_like_address,
    normalise_network,
    parse_network,
)


def is_network(text: str) -> bool:
    """True when ``text`` is an IPv4/IPv6 address or CIDR."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def split_port(entry: str) -> tuple[str, int | None]:
    """Split ``host:port`` / ``[v6]:port`` / ``[v6/64]:port`` into ``(host, port)``; a bare
    address, CIDR (IPv6 included) or name gives ``(entry, None)``.

    Raises:
        InvalidTargetError: a port that is not 1-65535 (ASCII digits), an empty port, or
            text after ``]`` that is not ``:port``.
    """
    text = entry.strip()
    host, port = text, ""
    if text.startswith("["):
        inner, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")) or rest == ":":
            raise InvalidTargetError(f"endpoint {entry!r} is not [address]:port",
                                     "write IPv6 endpoints as [2001:db8::5]:22")
        host, port = inner, rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
        if not port:
            raise InvalidTargetError(f"endpoint {entry!r} has no port after ':'",
                                     "write address:port, e.g. 198.51.100.5:22")
    if not port:
        return host, None
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise InvalidTargetError(f"endpoint {entry!r} has a bad port {port!r}",
                                 "use a port from 1 to 65535, e.g. 198.51.100.5:22")
    return host, int(port)


def join_port(host: str, port: int) -> str:
    """``host:port`` as :func:`split_port` reads it back and OpenSSH writes it: an IPv6
    address or prefix in brackets (``[2001:db8::7]:2222``, RFC 3986 section 3.2.2), so the
    port is not read as part of it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_endpoint(text: str) -> tuple[str, int] | None:
    """Parse ``address:port`` or ``[v6]:port`` (a literal address and a port, as a canary
    needs) into ``(address, port)``, the address rendered from its normalised value
    (IPv4-mapped IPv6 as IPv4, see :func:`~irtui.core.targets.normalise_network`); None if
    it is not exactly that (an IPv6 scope id included: the canary script takes no zone)."""
    try:
        host, port = split_port(text)
    except InvalidTargetError:
        return None
    if port is None or "/" in host:
        return None
    try:
        network, _ = parse_network(host)
    except InvalidTargetError:
        return None
    return str(network.network_address), port


def allow_network(entry: str, host: str) -> Network | None:
    """The normalised network of an allowlist entry's ``host`` part, or None when it is a
    DNS name (resolved by :func:`resolve_allow`).

    Raises:
        InvalidTargetError: a malformed address, a scope id, IPv4-compatible IPv6, or a /0
            (it would keep every address reachable during isolation and protect every
            address from blocking).
    """
    try:
        network, _ = parse_network(host)
    except InvalidTargetError as exc:
        if "%" in host:
            raise InvalidTargetError(f"management entry {entry!r}: {exc.problem}",
                                     exc.fix) from None
        if looks_like_address(host) or "IPv4-" in exc.problem:
            raise InvalidTargetError(f"management entry {entry!r} is not a valid IP "
                                     "address or CIDR", "fix the address; nothing was "
                                     "changed") from None
        return None
    if covers_everything(network):
        raise InvalidTargetError(
            f"management entry {entry!r} covers every IPv{network.version} address: "
            "isolation would keep everything reachable and no block could be placed",
            "name the management networks or endpoints themselves")
    return network


def resolve_allow(entries: Iterable[str]) -> list[tuple[Network, int | None]]:
    """Turn allowlist entries (``addr``, ``cidr``, ``name``, each optionally with ``:port``)
    into ``(network, port)`` pairs, resolving DNS names to every IPv4 and IPv6 address now
    (DNS is unreachable once a host is isolated). ``port`` None = any port.

    Raises:
        InvalidTargetError: a malformed address or port, or a name that does not resolve.
    """
    out: list[tuple[Network, int | None]] = []
    for entry in entries:
        host, port = split_port(entry)
        literal = allow_network(entry, host)
        if literal is not None:
            nets = [literal]
        else:
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except (OSError, UnicodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise InvalidTargetError(
                    f"management entry {entry!r} (isolation.allow or --management) does not "
                    f"resolve ({reason})",
                    "fix the name or use an address; nothing was changed") from None
            nets = [normalise_network(ipaddress.ip_network(str(info[4][0]).split("%")[0]))[0]
                    for info in infos]
        out += [(n, port) for n in nets if (n, port) not in out]
    return out
