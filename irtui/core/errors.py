"""One exception family whose message names the problem and the fix."""

from __future__ import annotations


class IrtuiError(Exception):
    """A failure the responder can act on.

    Args:
        problem: what went wrong, naming the thing concerned (host, key, address).
        fix: what to do about it, as one short imperative sentence.

    ``str(err)`` is the single line shown in the TUI log panel or on CLI stderr.
    """

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.line)

    @property
    def line(self) -> str:
        """The one-line message: ``problem — fix``."""
        return f"{self.problem} — {self.fix}" if self.fix else self.problem


class ConfigError(IrtuiError):
    """The configuration file is missing, unreadable or invalid."""

    def __init__(self, problems: list[str], path: str = "") -> None:
        self.problems = problems
        where = f" in {path}" if path else ""
        head = f"config problem{'s' if len(problems) > 1 else ''}{where}: " + "; ".join(problems)
        super().__init__(head)


class InvalidTargetError(IrtuiError):
    """An address, CIDR, host name or duration given by the user is not valid."""


class UnknownHostError(InvalidTargetError):
    """A host name that is not in the config."""


class SSHError(IrtuiError):
    """Connecting to, authenticating with or running a command on a host failed."""


class HostKeyError(SSHError):
    """The host's SSH key is unknown or differs from known_hosts; nothing was run."""


class SecretError(IrtuiError):
    """A secret is missing from the OS keyring or the keyring is unavailable."""


class NotifyError(IrtuiError):
    """Sending a notification failed."""


class ActionError(IrtuiError):
    """An action ran but did not achieve its effect (bad exit code or failed verification)."""


class AuditError(IrtuiError):
    """The audit trail cannot be written; actions refuse to run without it.

    Args:
        problem, fix: as for :class:`IrtuiError`; the problem says truthfully whether
            anything had been changed when the write failed.
        changed: hosts whose firewall was, or may have been, changed before the failure
            (empty: nothing was changed, or the write was not about a change).
    """

    def __init__(self, problem: str, fix: str = "", changed: tuple[str, ...] = ()) -> None:
        self.changed = changed
        super().__init__(problem, fix)
