"""Running commands on hosts for the actions: plan steps over the SSH pool, and read-only
commands whose failure is an :class:`~irtui.core.errors.ActionError` naming the tool."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from irtui.core.errors import ActionError
from irtui.core.events import EventSink, OutputCallback
from irtui.core.executor import Runner
from irtui.core.plan import Step, StepOutcome, command_line
from irtui.core.remote import Command
from irtui.core.settings import HostConfig
from irtui.core.ssh import SSHPool
from irtui.core.step_batch import run_batch


def run_captured(pool: SSHPool, host: HostConfig, command: str,
                 on_output: OutputCallback | None, cancel: threading.Event | None,
                 stdin: str | None = None) -> StepOutcome:
    """Run one command line over ``pool``, streaming to ``on_output`` and capturing both
    streams, as a :class:`StepOutcome` (seconds in ``duration``).

    Raises:
        SSHError, HostKeyError: see :meth:`SSHPool.run`.
    """
    result = pool.run(host, command, stdin=stdin.encode() if stdin is not None else None,
                      on_output=on_output, cancel=cancel, capture=True)
    return StepOutcome(result.exit_code, result.duration, result.stdout, result.stderr)


def run_read(pool: SSHPool, host: HostConfig, command: Command, suffix: str = "",
             timeout: float | None = None, hold: bool = False) -> str:
    """Run a read-only ``command`` on ``host`` and return its stdout.

    Args:
        suffix: raw text appended to the command line (e.g. ``' "$SSH_CONNECTION"'``, which
            the login shell expands before any sudo resets the environment).
        timeout: seconds (default: the pool's command timeout).
        hold: keep the session for the change planned on this read (:mod:`~irtui.core.ssh_hold`).

    Raises:
        ActionError: the tool is missing (exit 127) or the command failed (its last stderr
            line is quoted).
        SSHError, HostKeyError: see :meth:`SSHPool.run`.
    """
    line = command_line(host, command.argv) + suffix
    result = pool.run(host, line, capture=True, timeout=timeout, hold=hold, keep=True)
    if result.exit_code != 0:
        raise read_failed(host, command, result.exit_code, result.stderr)
    return result.stdout


def read_failed(host: HostConfig, command: Command, code: int, stderr: str) -> ActionError:
    """The error for read-only ``command`` exiting ``code`` on ``host``: the tool is missing
    (127, the shell's "command not found", POSIX sh "Exit Status"), else its last stderr
    line."""
    if code == 127:
        return ActionError(f"{host.name}: {command.argv[0]} is not installed",
                           "install it, or force another firewall backend for the host")
    err = stderr.strip().splitlines()
    return ActionError(f"{host.name}: {command.purpose} failed: "
                       f"{err[-1] if err else f'exit {code}'}",
                       "check that the login user may run it (root or sudo -n)")


def steps_for(host: HostConfig, commands: Sequence[Command],
              report_prefix: str | None = None) -> list[Step]:
    """Plan steps for ``commands`` on ``host`` (quoted, with ``sudo -n`` for non-root)."""
    return [Step(host.name, command_line(host, c.argv), c.purpose, c.stdin, report_prefix)
            for c in commands]


class SSHRunner(Runner):
    """Runs plan steps on the hosts of ``hosts`` through ``pool``."""

    def __init__(self, pool: SSHPool, hosts: dict[str, HostConfig]) -> None:
        self.pool = pool
        self.hosts = hosts

    def run_step(self, step: Step, on_output: OutputCallback,
                 cancel: threading.Event | None) -> StepOutcome:
        return run_captured(self.pool, self.hosts[step.host], step.command, on_output,
                            cancel, step.stdin)

    def run_batch(self, steps: list[Step], on_event: EventSink,
                  cancel: threading.Event | None,
                  readback: str | None = None) -> list[StepOutcome] | None:
        return run_batch(self.pool, self.hosts[steps[0].host], steps, on_event, cancel,
                         readback)
