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
from irtui.core.targets import looks_like_address


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
        InvalidTargetError: a port that is not 1-65535.
    """
    text = entry.strip()
    host, port = text, ""
    if text.startswith("["):
        inner, _, rest = text[1:].partition("]")
        host, port = inner, rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidTargetError(f"endpoint {entry!r} has a bad port {port!r}",
                                 "use a port from 1 to 65535, e.g. 198.51.100.5:22")
    return host, int(port)


def parse_endpoint(text: str) -> tuple[str, int] | None:
    """Parse ``address:port`` or ``[v6]:port`` (a literal address and a port, as a canary
    needs) into ``(address, port)``; None if it is not exactly that."""
    try:
        host, port = split_port(text)
    except InvalidTargetError:
        return None
    if port is None:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, port


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
        try:
            nets = [ipaddress.ip_network(host, strict=False)]
        except ValueError:
            if looks_like_address(host):
                raise InvalidTargetError(f"management entry {entry!r} is not a valid IP "
                                         "address or CIDR", "fix the address; nothing was "
                                         "changed") from None
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except (OSError, UnicodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise InvalidTargetError(
                    f"isolation.allow entry {entry!r} does not resolve ({reason})",
                    "fix the name or use an address; nothing was changed") from None
            nets = [ipaddress.ip_network(str(info[4][0]).split("%")[0]) for info in infos]
        out += [(n, port) for n in nets if (n, port) not in out]
    return out
