"""Safe file and folder names for evidence, from names a responder or a config gives.

A host, incident or artifact name becomes one path component that can never climb out of
the evidence directory, hide (leading dot), or collide with another name: text that is
already safe stays as it is; anything else is reduced to ``[A-Za-z0-9._-]`` and gets a short
hash of the original, so ``a/b`` and ``a_b`` stay apart.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

SAFE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,79}$")
MAX_COMPONENT = 80
NO_INCIDENT = "no-incident"


def safe_component(text: str) -> str:
    """One path component for ``text``.

    Args:
        text: any string (a host name, incident id, artifact name), possibly empty, with
            slashes, dots, control characters or non-ASCII.

    Returns:
        ``text`` itself when it already matches ``[A-Za-z0-9_][A-Za-z0-9._-]{0,79}``;
        otherwise its characters outside ``[A-Za-z0-9._-]`` replaced by ``_``, leading dots
        and dashes dropped, cut to 64 characters, plus ``-`` and the first 8 hex digits of the
        SHA-256 of the UTF-8 (surrogates escaped) original. Never empty, ``.`` or ``..``,
        never longer than :data:`MAX_COMPONENT` characters.
    """
    if SAFE_RE.fullmatch(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".-")[:64] or "_"
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{cleaned}-{digest}"


def incident_component(incident: str | None) -> str:
    """The folder for ``incident`` (:data:`NO_INCIDENT` when None or blank)."""
    return safe_component(incident.strip()) if incident and incident.strip() else NO_INCIDENT


def artifact_file(index: int, name: str, stream: str) -> str:
    """``NN-<name>.out`` (stdout) or ``NN-<name>.err`` (stderr) for artifact ``index``
    (1-based, two digits at least, so files sort in collection order).

    Raises:
        ValueError: ``stream`` is not ``stdout`` or ``stderr``.
    """
    suffix = {"stdout": "out", "stderr": "err"}[stream] if stream in ("stdout", "stderr") \
        else None
    if suffix is None:
        raise ValueError(f"stream must be stdout or stderr, not {stream!r}")
    return f"{index:02d}-{safe_component(name)}.{suffix}"


def collection_stamp(when: datetime | None = None) -> str:
    """UTC time as ``YYYYmmddTHHMMSSZ`` (ISO 8601 basic format), the start of a collection
    folder's name."""
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
