"""What the CLI verbs share: exit codes, common options, the event printer, plan running."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from irtui.core.errors import (
    AuditError,
    ConfigError,
    InvalidTargetError,
    IrtuiError,
    NotifyError,
    SecretError,
    SSHError,
)
from irtui.core.text import printable

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
    :mod:`irtui.cli`). An audit write that failed after a host was changed is 1, never 2
    (2 promises that nothing changed)."""
    if isinstance(exc, AuditError) and exc.changed:
        return EXIT_FAILED
    if isinstance(exc, ConfigError | InvalidTargetError | AuditError):
        return EXIT_INPUT
    if isinstance(exc, SSHError):
        return EXIT_UNREACHABLE
    if isinstance(exc, SecretError | NotifyError):
        return EXIT_NOTIFY
    return EXIT_FAILED


class PrintableStream:
    """A text stream that writes through :func:`irtui.core.text.printable`: whatever a verb
    prints (a host's output, an error quoting it, a value read from a firewall) reaches the
    terminal with its control characters escaped; newlines and tabs stay."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text, keep_newlines=True))
        return len(text)

    def __getattr__(self, name: str) -> object:  # flush, isatty, fileno, encoding…
        return getattr(self.stream, name)


@contextmanager
def printable_output() -> Iterator[None]:
    """Within the block, ``sys.stdout`` and ``sys.stderr`` are :class:`PrintableStream`s."""
    saved = sys.stdout, sys.stderr
    sys.stdout = PrintableStream(saved[0])  # type: ignore[assignment]
    sys.stderr = PrintableStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


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
