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


def _tty_passphrase(question: str) -> str:
    """Ask on the controlling terminal (never stdin, which may carry piped data)."""
    import getpass

    try:
        with open("/dev/tty"):
            pass
    except OSError:
        raise SecretError("the encrypted keyring file needs its passphrase, but there is no "
                          "terminal to ask on", "run irtui in a terminal") from None
    return getpass.getpass(question)


def configure_secrets(config: Config | str | None) -> Config:
    """Apply ``[secrets]`` for this CLI run (which keyring; the terminal prompt for an
    encrypted file's passphrase, asked once).

    Args:
        config: a loaded config, or a path (None: the default path; a missing default file
            means the defaults, so ``irtui secrets`` works before any config exists).

    Returns:
        The config used.

    Raises:
        ConfigError: the file given (or the existing default file) is invalid.
    """
    from irtui.core import secret_backend
    from irtui.core.config import Config, default_config_path, load_config

    if not isinstance(config, Config):
        use_defaults = config is None and not default_config_path().exists()
        config = Config() if use_defaults else load_config(config)
    secret_backend.configure(config.secrets)
    secret_backend.set_passphrase_prompt(_tty_passphrase)
    return config


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
