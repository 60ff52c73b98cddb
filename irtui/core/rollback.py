"""The commit-confirmed rollback timer on a host, the read-only ruleset snapshot taken
before isolating, and the canary connection test of the isolation self-test.

The sequence (see :mod:`irtui.core.actions.commit`) follows the commit-confirmed pattern of
network operating systems (Junos ``commit confirmed``, ``iptables-apply(8)``): arm a rollback
on the host, apply, confirm over a new connection, and only then disarm.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

from irtui.core.endpoints import join_port
from irtui.core.remote import Command, run_script

STATE_DIR = "/run/irtui"
"""Where the rollback timer keeps its files on the host (tmpfs: gone after a reboot, like
the isolation rules themselves)."""

CANARY_WAIT_SECONDS = 3
"""How long the self-test waits for a canary's TCP handshake."""

GUARD_MARGIN_SECONDS = 2
"""An isolation command runs only while at least this much is left before the rollback
fires (see :func:`guarded`)."""


def file_prefix(host: str) -> str:
    """Path prefix of the host's timer files; the name comes from the validated config."""
    return f"{STATE_DIR}/rollback-{host}"


def new_token() -> str:
    """A fresh token naming one arming of the timer (16 hex digits)."""
    return secrets.token_hex(8)


def arm_command(host: str, seconds: int, rollback: Command, token: str | None = None) -> Command:
    """Command arming a rollback that runs the backend's ``rollback`` script (a
    :func:`~irtui.core.remote.run_script` command) after ``seconds``.

    Args:
        token: names this arming; only :func:`disarm_command` with the same token stops it
            (default: a new random token).

    The host's exit status: 0 armed; 3 a timer is already armed (by this or another irtui
    run, which is left alone).
    """
    script, args = rollback.argv[2], rollback.argv[4:]
    return run_script("rollback_arm", seconds, file_prefix(host), token or new_token(), script,
                      *args, purpose=f"arm a rollback on the host: undo in {seconds} s unless "
                      "confirmed")


def disarm_command(host: str, token: str = "", missing_ok: bool = False) -> Command:
    """Command disarming the rollback timer armed with ``token`` (empty: whichever is
    armed). Exit 4: none is armed, or it is already firing (exit 0 instead with
    ``missing_ok``: a release clearing a leftover timer that fired meanwhile); exit 5: the
    armed timer has another token (another irtui run's), which is left alone."""
    if missing_ok:
        return run_script("rollback_disarm", file_prefix(host), token, "missing-ok",
                          purpose="disarm the rollback timer left armed by an isolation "
                          "that was never confirmed")
    return run_script("rollback_disarm", file_prefix(host), token,
                      purpose="disarm the rollback timer")


def guarded(command: Command, host: str, token: str) -> Command:
    """``command`` (same purpose and stdin) run through ``apply_guard.sh``: only while the
    timer armed with ``token`` is still armed with :data:`GUARD_MARGIN_SECONDS` to spare.
    An isolation command delayed in the network and delivered after the timer fired (or was
    disarmed) is refused with exit 6 instead of leaving the host isolated with no rollback.
    """
    return run_script("apply_guard", file_prefix(host), token, GUARD_MARGIN_SECONDS,
                      *command.argv, purpose=command.purpose, stdin=command.stdin)


GUARD_REFUSED = 6
"""Exit status of a command :func:`guarded` refused (nothing was run)."""


def status_command(host: str) -> Command:
    """Read-only command printing the timer's state (see :func:`parse_status`)."""
    return run_script("rollback_status", file_prefix(host), purpose="read the rollback timer")


def snapshot_command() -> Command:
    """Read-only command dumping every firewall ruleset on the host (nft, iptables, ipset)."""
    return run_script("snapshot", purpose="save the current rulesets")


def canary_command(address: str, port: int, before: bool) -> Command:
    """Read-only command trying a TCP connection from the host to ``address:port`` (see
    :func:`parse_canary`); ``before`` only changes the purpose shown."""
    where = join_port(address, port)
    purpose = (f"self-test baseline: {where} must be reachable before isolating"
               if before else f"self-test: {where} must be unreachable")
    return run_script("canary", address, port, CANARY_WAIT_SECONDS, purpose=purpose)


class TimerState(enum.Enum):
    """The rollback timer as the host reports it."""

    NONE = "none"
    ARMED = "armed"
    FIRED = "fired"
    DISARMED = "disarmed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RollbackTimer:
    """A host's rollback timer.

    Attributes:
        state: see :class:`TimerState`.
        seconds_left: for ``ARMED``, seconds until it fires by the host's own clock.
        detail: for ``FIRED``/``DISARMED``, the host's log line (``rolled back at <UTC>``,
            ``disarmed at <UTC>``).
    """

    state: TimerState
    seconds_left: int | None = None
    detail: str = ""

    @property
    def fires_in(self) -> str:
        """`` in N s`` for an armed timer whose deadline is known, else ``""`` (to follow
        "rolls it back by itself")."""
        return "" if self.seconds_left is None else f" in {self.seconds_left} s"

    def __str__(self) -> str:
        if self.state is TimerState.ARMED:
            return "armed" if self.seconds_left is None else f"armed {self.seconds_left}"
        if self.state in (TimerState.FIRED, TimerState.DISARMED):
            return f"{self.state.value} {self.detail}".strip()
        return self.state.value


def parse_status(text: str) -> RollbackTimer:
    """Parse ``rollback_status.sh`` output: ``armed DEADLINE NOW`` (epoch seconds, both by
    the host's clock, so clock skew with the responder does not matter), ``fired LINE``,
    ``disarmed LINE`` or ``none``; anything else is ``UNKNOWN``."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return RollbackTimer(TimerState.UNKNOWN)
    head, rest = words[0], (words[1] if len(words) > 1 else "")
    if head == "armed":
        nums = rest.split()
        if len(nums) == 2 and all(n.isdigit() for n in nums):
            return RollbackTimer(TimerState.ARMED, max(0, int(nums[0]) - int(nums[1])))
        return RollbackTimer(TimerState.ARMED)
    if head in ("fired", "disarmed"):
        return RollbackTimer(TimerState(head), detail=rest)
    if head == "none":
        return RollbackTimer(TimerState.NONE)
    return RollbackTimer(TimerState.UNKNOWN, detail=text.strip()[:200])


class CanaryResult(enum.Enum):
    """What a TCP connection attempt from the host to a canary gave (``canary.sh``)."""

    CONNECTED = "connected"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    BLOCKED = "blocked"
    UNREACHABLE = "unreachable"
    NO_TIMEOUT = "no-timeout"
    NO_BASH = "no-bash"
    NO_DEVTCP = "no-devtcp"
    ERROR = "error"

    @property
    def path_works(self) -> bool:
        """Packets reach the canary and its answers come back (a handshake, or a RST)."""
        return self in (CanaryResult.CONNECTED, CanaryResult.REFUSED)

    @property
    def dropped(self) -> bool:
        """Nothing came back: the SYN was dropped (timeout) or this host refused to send it
        (EPERM) — what an isolation that holds gives."""
        return self in (CanaryResult.TIMEOUT, CanaryResult.BLOCKED)

    @property
    def cannot_test(self) -> str:
        """Why the test cannot run on this host, or ``""``."""
        return {CanaryResult.NO_TIMEOUT: "timeout(1) is not installed on the host",
                CanaryResult.NO_BASH: "bash is not installed on the host",
                CanaryResult.NO_DEVTCP: "the host's bash has no /dev/tcp support"}.get(self, "")


def parse_canary(text: str) -> tuple[CanaryResult, str]:
    """Parse ``canary.sh`` output (the last ``canary RESULT [detail]`` line) into the result
    and its detail; output without such a line is ``ERROR`` quoting the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        words = line.split(maxsplit=2)
        if len(words) >= 2 and words[0] == "canary":
            try:
                return CanaryResult(words[1]), (words[2] if len(words) > 2 else "")
            except ValueError:
                break
    return CanaryResult.ERROR, (lines[-1][:200] if lines else "no output")
