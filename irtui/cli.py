"""The headless front: every action as a scriptable subcommand on the shared core.

The verbs live in :mod:`irtui.commands`, one module per area; this module assembles the
parser and maps errors to exit codes.

Exit codes: 0 success; 1 the action failed on at least one host; 2 bad input or config
(nothing changed); 3 a host could not be reached or its key was refused (nothing changed
there); 4 a secret or notification problem; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from irtui.commands import add_all
from irtui.commands.common import EXIT_INTERRUPTED, exit_code, printable_output
from irtui.core.errors import IrtuiError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``irtui``."""
    from irtui.core.paths import default_config_path

    try:
        where = str(default_config_path())
    except IrtuiError:  # no home directory: --config is then required
        where = "~/.config/irtui/config.toml"
    parser = argparse.ArgumentParser(
        prog="irtui", description="Incident-response console: contain, block, notify, record. "
        "Without a subcommand it opens the TUI.")
    parser.add_argument("--config", metavar="PATH",
                        help=f"config file (default: $IRTUI_CONFIG or {where})")
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("tui", help="open the TUI (the default)")
    add_all(sub)
    return parser


def wants_tui(args: argparse.Namespace) -> bool:
    """True when the parsed command line asks for the TUI (no subcommand, or ``tui``)."""
    return args.cmd in (None, "tui")


def run(args: argparse.Namespace) -> int:
    """Run the verb of parsed ``args``; errors become one line on stderr and an exit code.
    Everything printed goes through :func:`irtui.core.text.printable` (control characters
    escaped), so a compromised host cannot drive the terminal.

    Returns:
        The exit code (see the module docstring).
    """
    with printable_output():  # a host's output never reaches the terminal raw
        try:
            if not getattr(args, "needs_config", True):
                return int(args.handler(args, None))
            from irtui.commands.common import configure_secrets
            from irtui.core.config import load_config

            return int(args.handler(args, configure_secrets(load_config(args.config))))
        except IrtuiError as exc:
            print(f"irtui: {exc.line}", file=sys.stderr)
            _record_error(args, exc)
            return exit_code(exc)
        except KeyboardInterrupt:
            print("irtui: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


def _record_error(args: argparse.Namespace, exc: IrtuiError) -> None:
    """Attach the error that stopped the verb to the incident (when the verb had started
    recording); never raises."""
    fw = getattr(args, "responder", None)
    record_error = getattr(getattr(fw, "audit", None), "error", None)
    if record_error is not None:
        record_error(str(args.cmd), exc.line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI verb from ``argv``; returns the exit code (the TUI is started by
    :mod:`irtui.launcher`)."""
    return run(build_parser().parse_args(argv))
