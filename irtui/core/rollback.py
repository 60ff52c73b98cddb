"""The commit-confirmed rollback timer on a host, and the read-only ruleset snapshot taken
before isolating.

The sequence (see :mod:`irtui.core.actions.isolate`) follows the commit-confirmed pattern of
network operating systems (Junos ``commit confirmed``, ``iptables-apply(8)``): arm a rollback
on the host, apply, confirm over a new connection, and only then disarm.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from irtui.core.remote import Command, run_script

STATE_DIR = "/run"
"""Where the rollback timer keeps its pid/deadline/log files (tmpfs: gone after a reboot,
like the isolation rules themselves)."""


def file_prefix(host: str) -> str:
    """Path prefix of the host's timer files; the name comes from the validated config."""
    return f"{STATE_DIR}/irtui-rollback-{host}"


def arm_command(host: str, seconds: int, rollback: Command) -> Command:
    """Command arming a rollback that runs the backend's ``rollback`` script (a
    :func:`~irtui.core.remote.run_script` command) after ``seconds``. Fails (exit 3) if a
    timer is already armed."""
    script, args = rollback.argv[2], rollback.argv[4:]
    return run_script("rollback_arm", seconds, file_prefix(host), script, *args,
                      purpose=f"arm a rollback on the host: undo in {seconds} s unless "
                      "confirmed")


def disarm_command(host: str) -> Command:
    """Command disarming the rollback timer (exit 4 if none is armed or it is firing)."""
    return run_script("rollback_disarm", file_prefix(host), purpose="disarm the rollback timer")


def status_command(host: str) -> Command:
    """Read-only command printing the timer's state (see :func:`parse_status`)."""
    return run_script("rollback_status", file_prefix(host), purpose="read the rollback timer")


def snapshot_command() -> Command:
    """Read-only command dumping every firewall ruleset on the host (nft, iptables, ipset)."""
    return run_script("snapshot", purpose="save the current rulesets")


def canary_command(address: str, port: int) -> Command:
    """Self-test from the isolated host: exit 0 only if ``address:port`` is unreachable."""
    return run_script("canary", address, port,
                      purpose=f"self-test: {address}:{port} must be unreachable")


class TimerState(enum.Enum):
    """The rollback timer as the host reports it."""

    NONE = "none"
    ARMED = "armed"
    FIRED = "fired"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RollbackTimer:
    """A host's rollback timer.

    Attributes:
        state: see :class:`TimerState`.
        seconds_left: for ``ARMED``, seconds until it fires by the host's own clock.
        detail: for ``FIRED``, the host's log line (``rolled back at <UTC>``).
    """

    state: TimerState
    seconds_left: int | None = None
    detail: str = ""

    def __str__(self) -> str:
        if self.state is TimerState.ARMED:
            return "armed" if self.seconds_left is None else f"armed {self.seconds_left}"
        if self.state is TimerState.FIRED:
            return f"fired {self.detail}".strip()
        return self.state.value


def parse_status(text: str) -> RollbackTimer:
    """Parse ``rollback_status.sh`` output: ``armed DEADLINE NOW`` (epoch seconds, both by
    the host's clock, so clock skew with the responder does not matter), ``fired LINE`` or
    ``none``; anything else is ``UNKNOWN``."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return RollbackTimer(TimerState.UNKNOWN)
    head, rest = words[0], (words[1] if len(words) > 1 else "")
    if head == "armed":
        nums = rest.split()
        if len(nums) == 2 and all(n.isdigit() for n in nums):
            return RollbackTimer(TimerState.ARMED, max(0, int(nums[0]) - int(nums[1])))
        return RollbackTimer(TimerState.ARMED)
    if head == "fired":
        return RollbackTimer(TimerState.FIRED, detail=rest)
    if head == "none":
        return RollbackTimer(TimerState.NONE)
    return RollbackTimer(TimerState.UNKNOWN, detail=text.strip()[:200])
