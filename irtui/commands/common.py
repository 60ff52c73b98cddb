"""What the CLI verbs share: exit codes, common options, the event printer, plan running."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING

from irtui.core.errors import (
    AuditError,
    ConfigError,
    InvalidTargetError,
    IrtuiError,
    NotifyError,
    SecretError,
    SSHError,
)

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.core.config import Config
    from irtui.core.events import Event
    from irtui.core.plan import Plan

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_UNREACHABLE, EXIT_NOTIFY = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as shells report a command ended by Ctrl-C."""
ON_HELP = "enforcement point: host name, @group or all (repeatable)"


def exit_code(exc: IrtuiError) -> int:
    """The exit code for an error that stopped a verb (see the module docstring of
    :mod:`irtui.cli`)."""
    if isinstance(exc, ConfigError | InvalidTargetError | AuditError):
        return EXIT_INPUT
    if isinstance(exc, SSHError):
        return EXIT_UNREACHABLE
    if isinstance(exc, SecretError | NotifyError):
        return EXIT_NOTIFY
    return EXIT_FAILED


def hosts_exit(selected: int, errors: list[IrtuiError], attention: bool = False) -> int:
    """Exit code of a reading verb over ``selected`` hosts (``status``, ``probe``,
    ``blocks``), which goes on past a host it cannot read: with one host, that host's
    error code (3 when unreachable, see :func:`exit_code`); with several, 1 when any failed
    or any needs ``attention`` (an entry not enforced, a partial isolation, irtui state in
    two backends), else 0."""
    if selected == 1 and errors:
        return exit_code(errors[0])
    return EXIT_FAILED if errors or attention else EXIT_OK


def action_parser(sub: argparse._SubParsersAction, name: str,  # type: ignore[type-arg]
                  help_text: str) -> argparse.ArgumentParser:
    """A subcommand that changes hosts: ``--dry-run`` and ``--quiet`` included."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no live remote output")
    return p


class Printer:
    """Renders events: remote output and progress on stderr, results on stdout."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        from irtui.core.events import (
            Countdown,
            HostResult,
            OutputLine,
            PlanResult,
            StepStarted,
        )

        with self.lock:
            if isinstance(event, StepStarted) and not self.quiet:
                print(f"{event.host} $ {event.command}   # {event.purpose}", file=sys.stderr)
            elif isinstance(event, Countdown) and not self.quiet:
                if event.seconds % 5 == 0:
                    print(f"{event.host}: {event.what} in {event.seconds} s", file=sys.stderr)
            elif isinstance(event, OutputLine) and not self.quiet:
                mark = "|" if event.stream == "stdout" else "!"
                print(f"{event.host} {mark} {event.line}", file=sys.stderr)
            elif isinstance(event, HostResult):
                print(f"{event.host}: {'ok' if event.ok else 'FAILED'} — {event.message} "
                      f"({event.duration:.2f} s)")
            elif isinstance(event, PlanResult):
                good, bad = event.counts
                print(f"{event.summary}: {good} ok, {bad} failed")
            sys.stdout.flush()


def responder(config: Config) -> Responder:
    """The action API for ``config``."""
    from irtui.core.actions import Responder

    return Responder(config)


def run_plan(args: argparse.Namespace, fw: Responder, plan: Plan) -> int:
    """Print the plan's notes; with ``--dry-run`` print the plan, else execute it.

    Returns:
        EXIT_OK, or EXIT_FAILED when any host failed.
    """
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        print(plan.render())
        return EXIT_OK
    result = fw.execute(plan, Printer(args.quiet))
    return EXIT_OK if result.ok else EXIT_FAILED
