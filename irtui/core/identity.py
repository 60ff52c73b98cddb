"""Who runs irtui, as the record, the lock files on hosts and the reports name them."""

from __future__ import annotations

import os
import pwd
import socket


def analyst() -> str:
    """The analyst as ``user@host``: the real UID's passwd entry (environment variables such
    as ``$USER`` are not trusted for an audit trail), or ``uid 1234@host`` when the UID has no
    passwd entry (a container's ``--user 1234``)."""
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    return f"{user}@{socket.gethostname()}"
