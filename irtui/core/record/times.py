"""Times in the incident record: UTC, ISO 8601 with milliseconds, parsed strictly.

Every record carries ``ts`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (ISO 8601 / RFC 3339 profile, UTC,
"Z" suffix), so records sort as text and differences are exact to the millisecond.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from irtui.core.errors import InvalidTargetError

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)


def utc_stamp(moment: datetime | None = None) -> str:
    """``moment`` (default now) as ``2026-11-29T22:30:00.123Z`` (UTC, milliseconds)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse a time typed by a responder, e.g. ``--detected-at``.

    Accepted (RFC 3339 / ISO 8601 subset): ``2026-03-01``, ``2026-03-01T14:05``,
    ``2026-03-01 14:05:09``, ``2026-03-01T14:05:09.250Z``, ``…+01:00`` / ``…-0500``.
    A time without an offset is taken as UTC (the record is kept in UTC).

    Args:
        text: the time as typed.

    Returns:
        An aware datetime in UTC.

    Raises:
        InvalidTargetError: not one of those forms, or not a real date/time.
    """
    fix = "give an ISO 8601 time such as 2026-03-01T14:05:00Z (no offset = UTC)"
    match = _ISO.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidTargetError(f"time {text!r} is not an ISO 8601 time", fix)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                          int(second or 0), micro, tzinfo=UTC)
        if offset and offset.upper() != "Z":
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            if delta >= timedelta(hours=24):
                raise ValueError("offset out of range")
            moment -= sign * delta
    except (ValueError, OverflowError) as exc:
        raise InvalidTargetError(f"time {text!r} is not a real time ({exc})", fix) from None
    return moment


FUTURE_SLACK_S = 60.0
"""Seconds a "when it happened" time may lie ahead of this machine's clock (clock skew
between the responder's watch and the jump host) before it is refused as in the future."""


def parse_past_time(text: str, what: str = "detection time",
                    now: datetime | None = None) -> datetime:
    """:func:`parse_time` for a moment that has already happened (``--detected-at``).

    Args:
        text: the time as typed.
        what: what the time is, for the message.
        now: the present (aware); default now.

    Returns:
        An aware datetime in UTC.

    Raises:
        InvalidTargetError: malformed (see :func:`parse_time`), or more than
            :data:`FUTURE_SLACK_S` seconds in the future — most often a local time typed
            without its offset, which irtui reads as UTC.
    """
    moment = parse_time(text)
    now = now or datetime.now(UTC)
    if moment > now + timedelta(seconds=FUTURE_SLACK_S):
        raise InvalidTargetError(
            f"{what} {text!r} is in the future (it is now {utc_stamp(now)})",
            "give when it happened, in UTC or with its offset (e.g. "
            "2026-03-01T14:05:00+01:00); a time without an offset is read as UTC")
    return moment


def seconds_between(start: str, end: str) -> float:
    """Seconds from record time ``start`` to ``end`` (negative if ``end`` is earlier).

    Raises:
        InvalidTargetError: either is not a time.
    """
    return (parse_time(end) - parse_time(start)).total_seconds()
