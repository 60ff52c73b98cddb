"""Serialise changes per host, on the host itself: every command that changes a host's
firewall (block, unblock, isolate, release, arming the rollback timer, and the timer's own
rollback) runs under one lock file there (``remote/host_lock.sh``, flock(1)), so two irtui
processes or two responders never interleave their changes.

A change waits for the lock up to :data:`LOCK_WAIT_SECONDS`, then fails with exit
:data:`EXIT_HOST_BUSY` and "host busy: another irtui change is running (<who>)". The
rollback timer waits :data:`ROLLBACK_LOCK_WAIT_SECONDS` and then runs anyway: a stuck lock
must never keep a host isolated.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from irtui.core.identity import analyst
from irtui.core.remote import Command, run_script

LOCK_WAIT_SECONDS = 30
"""How long a change waits for another irtui change on the same host (seconds). The longest
changes irtui makes (an ipset rebuild of 10,000 entries) take a few seconds."""

ROLLBACK_LOCK_WAIT_SECONDS = 10
"""How long the rollback timer waits for the lock before it runs anyway (seconds)."""

EXIT_HOST_BUSY = 75
"""Exit status of a change that found the host busy (EX_TEMPFAIL, sysexits.h)."""


def operator() -> str:
    """Who is changing the host, as the lock file records it: ``user@machine pid N`` (the
    uid when the user has no passwd entry)."""
    return f"{analyst()} pid {os.getpid()}"


def locked(command: Command, action: str, wait: float = LOCK_WAIT_SECONDS, *,
           run_anyway: bool = False) -> Command:
    """``command`` run under the host's irtui change lock.

    Args:
        command: the change (its argv, purpose and stdin are kept).
        action: what irtui is doing (``block``, ``isolate``...), shown to a waiting process.
        wait: seconds to wait for the lock (> 0).
        run_anyway: after ``wait``, run without the lock instead of failing (only for the
            rollback timer).

    Returns:
        The wrapped command: it exits with the command's status, or
        :data:`EXIT_HOST_BUSY` with "host busy: ..." on stderr, or 69 when flock(1) is
        missing on the host.
    """
    who = f"irtui {action} by {operator()}"
    return run_script("host_lock", f"{wait:g}", "run" if run_anyway else "fail", who,
                      *command.argv, purpose=command.purpose, stdin=command.stdin)


def locked_all(commands: Iterable[Command], action: str,
               wait: float = LOCK_WAIT_SECONDS) -> list[Command]:
    """:func:`locked` applied to each of ``commands``."""
    return [locked(c, action, wait) for c in commands]
