"""Parse and format durations such as ``90s``, ``15m``, ``24h``, ``7d``."""

from __future__ import annotations

import re

from irtui.core.errors import InvalidTargetError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])", re.ASCII)
PERMANENT_WORDS = frozenset({"permanent", "never"})
MAX_TTL = 2_147_483
"""Longest TTL in seconds (~24.8 days): the largest timeout ipset(8) accepts (INT_MAX/1000),
applied to every backend so a block behaves the same everywhere; longer is 'permanent'."""


def parse_ttl(text: str | int | None) -> int | None:
    """Parse a time-to-live.

    Args:
        text: ``"24h"``, ``"1h30m"``, ``"45s"``, a plain positive number of seconds, or
            ``permanent``/``never`` for no expiry; None also means permanent. Permanent is
            always an explicit choice: empty text and zero are refused.

    Returns:
        The TTL in whole seconds (1 to :data:`MAX_TTL`), or ``None`` for a permanent entry.

    Raises:
        InvalidTargetError: not a duration, zero, negative, or longer than :data:`MAX_TTL`.
    """
    if text is None:
        return None
    fix = "use a number with s/m/h/d/w (e.g. 30m, 24h, 7d) or 'permanent'"
    if isinstance(text, int):
        total = text
    else:
        value = text.strip().lower()
        if value in PERMANENT_WORDS:
            return None
        if value.isascii() and value.isdigit():  # "²".isdigit() is True, int("²") fails
            total = int(value)
        else:
            pos, total = 0, 0
            for match in _PART.finditer(value):
                if match.start() != pos:
                    break
                total += int(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(value) or not value:
                raise InvalidTargetError(f"TTL {text!r} is not a duration", fix)
    if total <= 0:
        raise InvalidTargetError(f"TTL {text!r} is not a positive duration", fix)
    if total > MAX_TTL:
        raise InvalidTargetError(
            f"TTL {text!r} is longer than {format_duration(MAX_TTL)} (the longest timeout "
            "ipset and the kernel sets support)", "use a shorter TTL or 'permanent'")
    return total


def format_duration(seconds: float | None) -> str:
    """Format seconds as a short countdown (``2d3h``, ``1d``, ``4h05m``, ``59s``);
    None → ``permanent``."""
    if seconds is None:
        return "permanent"
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{s:02d}s"
    return f"{s}s"


def exact_duration(seconds: int | None) -> str:
    """Format a TTL so that :func:`parse_ttl` reads back exactly ``seconds`` (unlike
    :func:`format_duration`, which rounds for display): ``90061`` → ``1d1h1m1s``,
    ``3600`` → ``1h``, None → ``permanent``.

    Raises:
        ValueError: ``seconds`` is not positive.
    """
    if seconds is None:
        return "permanent"
    if seconds <= 0:
        raise ValueError(f"a TTL is positive, got {seconds}")
    parts = []
    rest = seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
