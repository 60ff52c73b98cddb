"""DNS names as the responder writes them (a host's address, an allowlist entry), checked
before anything tries to resolve them.

Python's resolver path encodes names with the ``idna`` codec, which raises ``UnicodeError``
(not ``OSError``) for a label over 63 characters or an empty label: checked here first, the
responder gets the rule and the fix instead of a crash.
"""

from __future__ import annotations

import re

MAX_LABEL = 63
"""Longest label in octets (RFC 1035 §2.3.4)."""
MAX_NAME = 253
"""Longest name in its text form without the final dot (255 octets on the wire, RFC 1035
§2.3.4, less the length octets)."""
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?", re.ASCII)
"""Letters, digits and hyphens, not at either end (RFC 952, RFC 1123 §2.1); ``_`` is also
accepted, as resolvers and OpenSSH do (``_service`` names, some cloud host names)."""


def dns_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a DNS host name, or None if it can.

    Internationalised names are converted to their ASCII form first (IDNA 2003, Python's
    ``idna`` codec, RFC 3490) and the limits apply to that form.

    Returns:
        None, or one phrase naming the rule broken, e.g. ``label 'aaa…' is 64 characters,
        more than 63 (RFC 1035)``.
    """
    text = name.removesuffix(".")
    if not text:
        return "empty name"
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = None
    labels = (ascii_name or text).split(".")
    for label in labels:
        if len(label) > MAX_LABEL:
            shown = label if len(label) <= 20 else f"{label[:16]}…"
            return (f"label {shown!r} is {len(label)} characters, more than {MAX_LABEL} "
                    "(RFC 1035)")
        if not label:
            return "empty label (two dots in a row, or a leading dot)"
    if ascii_name is None:
        return "not a valid internationalised name (IDNA, RFC 3490)"
    if len(ascii_name) > MAX_NAME:
        return f"{len(ascii_name)} characters long, more than {MAX_NAME} (RFC 1035)"
    for label in labels:
        if not _LABEL.fullmatch(label):
            return (f"label {label!r} may hold only letters, digits, '-' and '_', and not "
                    "start or end with '-' (RFC 1123)")
    return None
