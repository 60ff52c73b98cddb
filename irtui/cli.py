"""The headless front: every action as a scriptable subcommand on the shared core.

The verbs live in :mod:`irtui.commands`, one module per area; this module assembles the
parser and maps errors to exit codes.

Exit codes: 0 success; 1 the action failed on at least one host, or stdout could not be
written (a full disk; a reader that went away is not an error); 2 bad input or config
(nothing changed); 3 a host could not be reached or its key was refused (nothing changed
there); 4 a secret or notification problem; 5 some requested entries were refused, the
others applied; 130 interrupted (Ctrl-C; 143 SIGTERM, 129
SIGHUP).

Every verb takes ``--json``: one JSON document on stdout (schema ``irtui/1``, see
:mod:`irtui.commands.jsonout`) carrying the same exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from irtui.commands import add_all, jsonout
from irtui.commands.common import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    exit_code,
    printable_output,
)
from irtui.core.errors import IrtuiError


class UsageError(Exception):
    """argparse refused the command line (raised by :meth:`Parser.error`)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors raised as :class:`UsageError` so :func:`parse` can
    answer them in JSON too (``--json``)."""

    def error(self, message: str) -> NoReturn:
        """argparse's hook for a refused command line: raise :class:`UsageError`."""
        raise UsageError(self, message)


def _joined_values(words: list[str]) -> list[str]:
    """``--ttl -1h`` as ``--ttl=-1h``: argparse takes a value starting with ``-`` that is
    not a plain number for an option and says only "expected one argument"; joined, the
    duration's own check names what is wrong with it."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i] == "--ttl" and i + 1 < len(words) and words[i + 1][:1] == "-" \
                and words[i + 1] not in ("-", "--") and not words[i + 1].startswith("--"):
            out.append(f"--ttl={words[i + 1]}")
            i += 2
            continue
        out.append(words[i])
        i += 1
    return out


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace | int:
    """Parse ``argv`` (default ``sys.argv[1:]``).

    Returns:
        The namespace; or, for a command line argparse refuses, 2 (EXIT_INPUT) after
        argparse's usage and error lines on stderr and, with ``--json``, the envelope on
        stdout. ``--help`` still exits (SystemExit 0).
    """
    words = _joined_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        return parser.parse_args(words)
    except UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        print(f"{exc.parser.prog}: error: {exc.message}", file=sys.stderr)
        if "--json" in words:
            jsonout.usage_error(_verb_named(parser, words), exc.parser.prog, exc.message)
        return EXIT_INPUT


def _verb_named(parser: argparse.ArgumentParser, words: list[str]) -> str:
    """The verb ``words`` name (``incident new``), following the subcommands; "" if none."""
    names: list[str] = []
    for word in words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        if word in subs[0].choices:
            names.append(word)
            parser = subs[0].choices[word]
    return " ".join(names)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``irtui``."""
    from irtui.core.paths import default_config_path

    try:
        where = str(default_config_path())
    except IrtuiError:  # no home directory: --config is then required
        where = "~/.config/irtui/config.toml"
    parser = Parser(
        prog="irtui", description="Incident-response console: contain, block, notify, record. "
        "Without a subcommand it opens the TUI.")
    parser.add_argument("--config", metavar="PATH",
                        help=f"config file (default: $IRTUI_CONFIG or {where})")
    read_only = ("TUI: offer no action that changes a host (look, don't touch; also "
                 "ui.read_only in the config)")
    parser.add_argument("--read-only", action="store_true", help=read_only)
    sub = parser.add_subparsers(dest="cmd")
    tui = sub.add_parser("tui", help="open the TUI (the default)")
    tui.add_argument("--read-only", action="store_true", dest="tui_read_only", help=read_only)
    add_all(sub)
    for name, child in sub.choices.items():
        if name != "tui":
            jsonout.add_option(child, name)
        _config_after_verb(child, where)
    return parser


def _config_after_verb(parser: argparse.ArgumentParser, where: str) -> None:
    """Accept ``--config`` after the verb too (``irtui status --config lab.toml``), as
    people type it; absent there, the one given before the verb (or the default) holds."""
    for _, leaf in jsonout.leaf_parsers(parser):
        if "--config" not in leaf._option_string_actions:
            leaf.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                              help=f"config file (default: $IRTUI_CONFIG or {where})")


def wants_tui(args: argparse.Namespace) -> bool:
    """True when the parsed command line asks for the TUI (no subcommand, or ``tui``)."""
    return args.cmd in (None, "tui")


def tui_read_only(args: argparse.Namespace) -> bool:
    """True when ``--read-only`` was given (before or after ``tui``)."""
    return bool(getattr(args, "read_only", False) or getattr(args, "tui_read_only", False))


def run(args: argparse.Namespace) -> int:
    """Run the verb of parsed ``args``; errors become one line on stderr and an exit code.
    Everything printed goes through :func:`irtui.core.text.printable` (control characters
    escaped), so a compromised host cannot drive the terminal. With ``--json`` the verb's
    JSON document is written on stdout and its human text on stderr
    (:mod:`irtui.commands.jsonout`).

    Returns:
        The exit code (see the module docstring).
    """
    with printable_output() as (out, _err):
        with jsonout.collecting(args) as report:
            code = _run_verb(args, report)
        out.flush()
    return _output_lost(out.unread(), code)


def _run_verb(args: argparse.Namespace, report: jsonout.Report) -> int:
    """The verb's exit code; an :class:`IrtuiError` or Ctrl-C becomes one line on stderr."""
    try:
        if not getattr(args, "needs_config", True):
            return report.done(int(args.handler(args, None)))
        from irtui.commands.common import configure_secrets
        from irtui.core.config import load_config

        config = configure_secrets(load_config(args.config))
        return report.done(int(args.handler(args, config)))
    except IrtuiError as exc:
        print(f"irtui: {exc.line}", file=sys.stderr)
        _record_error(args, exc)
        return report.done(exit_code(exc), exc)
    except KeyboardInterrupt as exc:
        print("irtui: interrupted", file=sys.stderr)
        return report.done(EXIT_INTERRUPTED, exc)


def _output_lost(error: OSError | None, code: int) -> int:
    """``code``, unless stdout could not be written (a full disk, an I/O error: not a
    reader that went away): then one line on stderr, and never 0 — the responder did not
    get the result (the incident record still has what was done)."""
    if error is None:
        return code
    with contextlib.suppress(OSError, AttributeError):
        print(f"irtui: the output could not be written to stdout ({error.strerror}); what "
              "was done is in the incident record — irtui incident show, or send stdout "
              "where it can be written", file=sys.stderr, flush=True)
    return code or EXIT_FAILED


def _record_error(args: argparse.Namespace, exc: IrtuiError) -> None:
    """Attach the error that stopped the verb to the incident (when the verb had started
    recording); never raises."""
    fw = getattr(args, "responder", None)
    record_error = getattr(getattr(fw, "audit", None), "error", None)
    if record_error is not None:
        record_error(str(args.cmd), exc.line, exc,
                     dry_run=bool(getattr(args, "dry_run", False)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI verb from ``argv``; returns the exit code (the TUI is started by
    :mod:`irtui.launcher`)."""
    args = parse(argv)
    return args if isinstance(args, int) else run(args)
