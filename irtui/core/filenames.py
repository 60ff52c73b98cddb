"""File names made from names irtui did not choose (host names, session ids, evidence labels).

One rule for every file irtui writes into its record or evidence folders: a value becomes
exactly one safe path component, and different values never become the same name.
"""

from __future__ import annotations

import hashlib
import re

from irtui.core.errors import InvalidTargetError

NAME_MAX = 255
"""Longest file name in bytes on Linux file systems (``NAME_MAX``, limits.h / ext4, xfs,
tmpfs)."""
MAX_COMPONENT = 200
"""Longest component :func:`file_component` returns, leaving room for a prefix and a suffix
such as ``-rulesets-before.txt`` within :data:`NAME_MAX`."""

_KEEP = re.compile(r"[A-Za-z0-9_.-]")
_NOT_KEPT = re.compile(r"[^A-Za-z0-9_.-]")


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def file_component(value: str) -> str:
    """Turn ``value`` into one safe file-name component.

    Letters, digits, ``_``, ``.`` and ``-`` are kept; every other character (``/``, NUL,
    spaces, control characters, ``%``, non-ASCII…) is percent-encoded as its UTF-8 bytes
    (RFC 3986 §2.1 style, upper-case hex), and so is a leading ``.`` or ``-`` (so the result
    is never ``.``, ``..``, a hidden file or something a tool reads as an option). The
    encoding is injective, and reversible with ``urllib.parse.unquote`` while the result is
    at most :data:`MAX_COMPONENT` characters; a longer one is cut and ends with ``~`` and
    the first 16 hex digits of the value's SHA-256 (``~`` never appears otherwise), so
    distinct values still get distinct names.

    Args:
        value: any text, e.g. a host name from the config or a session id.

    Returns:
        A non-empty ASCII name of at most :data:`MAX_COMPONENT` characters.

    Raises:
        InvalidTargetError: ``value`` is empty.
    """
    if not value:
        raise InvalidTargetError("an empty name cannot name a file",
                                 "give the host or session a name")
    body = _NOT_KEPT.sub(_percent, value)
    if body[0] in ".-":
        body = f"%{ord(body[0]):02X}{body[1:]}"
    if len(body) <= MAX_COMPONENT:
        return body
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    head = body[:MAX_COMPONENT - 17]
    cut = head.rfind("%", len(head) - 2)  # never split a %XX escape
    if cut != -1:
        head = head[:cut]
    return f"{head}~{digest}"


def is_safe_component(name: str) -> bool:
    """True when ``name`` could have come from :func:`file_component`: non-empty, at most
    :data:`NAME_MAX` bytes, only ``[A-Za-z0-9_.%~-]``, not starting with ``.`` or ``-``."""
    return (0 < len(name) <= NAME_MAX and name[0] not in ".-"
            and all(_KEEP.match(c) or c in "%~" for c in name))
