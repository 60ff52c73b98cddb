"""IOCs as analysts paste them from reports, alerts and tickets: split, refanged, and either
turned into an address/CIDR text or refused with the reason.

Reports "defang" indicators so nobody clicks them: ``203.0.113[.]7``, ``203[.]0[.]113[.]7``,
``2001:db8[:]:1``, ``hxxp://…``. irtui reverses the usual defang marks and strips the
quoting and punctuation around a token. It blocks addresses and prefixes only, so a URL or an
``address:port`` is refused, naming the address to give instead: blocking a whole address
is not what such an indicator says, and irtui never enforces something else than asked.
"""

from __future__ import annotations

import ipaddress
import re

from irtui.core.errors import InvalidTargetError

_SEPARATORS = re.compile(r"[\s,;|]+")
_WRAPPERS = "\"'`<>(){}«»“”‘’•*"
_TRAILING = ".:,;!?"
_DEFANG = (
    (re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}", re.IGNORECASE), "."),
    (re.compile(r"\[:\]|\(:\)|\{:\}", re.IGNORECASE), ":"),
    (re.compile(r"\[/\]", re.IGNORECASE), "/"),
)
_SCHEME = re.compile(r"^(?:hxxps?|https?|fxp|ftp|[a-z][a-z0-9+.-]*)\[?:\]?//", re.IGNORECASE)
_V4_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$")
_V6_PORT = re.compile(r"^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$")
_PLAIN_V4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?", re.ASCII)
"""A token that is already a bare IPv4 address or CIDR: nothing to undo (feed fast path)."""
MAX_TOKEN = 200
"""Longer tokens are refused without further parsing (no address is that long)."""


def split_pasted(text: str) -> list[str]:
    """Split pasted text into candidate tokens on whitespace, commas, semicolons and pipes
    (the separators of lists in tickets, CSV cells and chat messages)."""
    return [t for t in _SEPARATORS.split(text) if t]


def _unwrap(token: str) -> str:
    value = token.strip()
    while value and (value[0] in _WRAPPERS or value[-1] in _WRAPPERS + _TRAILING):
        if value[0] in _WRAPPERS:
            value = value[1:]
        elif value[-1] == ":" and value.endswith("::"):
            break  # an IPv6 address may end in "::"
        else:
            value = value[:-1]
    return value.strip()


def refang(token: str) -> str:
    """The address/CIDR text a pasted ``token`` stands for.

    Undoes the common defang marks (``[.]``, ``(.)``, ``[dot]``, ``[:]``, ``[/]``) and strips
    quotes, brackets, bullets and trailing punctuation. The result is not validated as an
    address yet (the action does that and names the problem).

    Raises:
        InvalidTargetError: a URL or an ``address:port`` (irtui blocks whole addresses; the
            fix names the address to give), or a token longer than :data:`MAX_TOKEN`.
    """
    if _PLAIN_V4.fullmatch(token):
        return token
    if len(token) > MAX_TOKEN:
        raise InvalidTargetError(f"{token[:40]!r}… is {len(token)} characters, too long for "
                                 "an IP address or CIDR", "give one address or CIDR per token")
    value = token.strip()
    for pattern, plain in _DEFANG:
        value = pattern.sub(plain, value)
    if _SCHEME.match(value):
        host = _url_host(value)
        hint = f"give {host} to block that address" if host else "give the server's address"
        raise InvalidTargetError(f"{token!r} is a URL; irtui blocks addresses, not URLs", hint)
    if value.startswith("[") and "]" in value and not _V6_PORT.match(_unwrap(value)):
        value = value[1:value.index("]")] + value[value.index("]") + 1:]
    value = _unwrap(value)
    port = _V4_PORT.match(value) or _V6_PORT.match(value)
    if port:
        raise InvalidTargetError(
            f"{token!r} is an address with a port; irtui blocks whole addresses, not ports",
            f"give {port.group(1)} if you mean to block every port of that address")
    return value


def _url_host(url: str) -> str | None:
    rest = _SCHEME.sub("", url, count=1)
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None
