"""What the CLI verbs share: exit codes, common options, the event printer, plan running."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
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
    from irtui.core.record import IncidentRecorder

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_UNREACHABLE, EXIT_NOTIFY = 0, 1, 2, 3, 4
EXIT_REFUSED = 5
"""Done, but some requested entries were refused (malformed, protected by a guardrail, a
feed record irtui cannot block): the valid ones were applied (or, with --dry-run, would
be). Not 2, which promises that nothing changed; not 1, which means a host failed."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as shells report a command ended by Ctrl-C."""
ON_HELP = ("enforcement point: host name, @group or all (repeatable, or comma-separated: "
           "--on web1,web2)")


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


def hosts_exit(selected: int, errors: list[IrtuiError], attention: bool = False) -> int:
    """Exit code of a reading verb over ``selected`` hosts (``status``, ``probe``,
    ``blocks``), which goes on past a host it cannot read: with one host, that host's
    error code (3 when unreachable, see :func:`exit_code`); with several, 1 when any failed
    or any needs ``attention`` (an entry not enforced, a partial isolation, irtui state in
    two backends), else 0."""
    if selected == 1 and errors:
        return exit_code(errors[0])
    return EXIT_FAILED if errors or attention else EXIT_OK


class PrintableStream:
    """A text stream that writes through :func:`irtui.core.text.printable`: whatever a verb
    prints (a host's output, an error quoting it, a value read from a firewall) reaches the
    terminal with its control characters escaped; newlines and tabs stay.

    A stream that cannot be written never stops the verb (a change must run to its end and
    be recorded): from the first failed write on, output is dropped and the error kept in
    ``lost``; the file descriptor is pointed at /dev/null so Python's own flush at exit is
    quiet too. ``stream`` None (the descriptor was closed before irtui started) drops
    everything. A character the stream's encoding lacks is written escaped (``\\u2014``)."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.lost: OSError | None = None
        # a terminal that cannot show a character (an ASCII or Latin-1 locale) gets it
        # escaped, as Python's stderr does, instead of an encoding error losing the line
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]

    def write(self, text: str) -> int:
        if self.stream is not None and self.lost is None:
            try:
                self.stream.write(printable(text, keep_newlines=True))
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None and self.lost is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self._lose(exc)

    def unread(self) -> OSError | None:
        """The write error that lost output nobody chose not to read (a full disk, an I/O
        error), or None: a reader that went away (EPIPE) or a closed descriptor is the
        user's choice, not a failure."""
        if self.lost is None or self.lost.errno in (errno.EPIPE, errno.EBADF):
            return None
        return self.lost

    def _lose(self, exc: OSError) -> None:
        self.lost = exc
        with contextlib.suppress(OSError, ValueError, AttributeError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.stream.fileno())  # type: ignore[union-attr]
            os.close(null)

    def __getattr__(self, name: str) -> object:  # isatty, fileno, encoding…
        return getattr(self.stream, name)


@contextmanager
def printable_output() -> Iterator[tuple[PrintableStream, PrintableStream]]:
    """Within the block, ``sys.stdout`` and ``sys.stderr`` are :class:`PrintableStream`s
    (yielded, so the caller can see afterwards whether output was lost)."""
    saved = sys.stdout, sys.stderr
    out, err = PrintableStream(saved[0]), PrintableStream(saved[1])
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield out, err
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = saved


def verb_group(sub: argparse._SubParsersAction, name: str, text: str,  # type: ignore[type-arg]
               dest: str) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:  # type: ignore[type-arg]
    """A verb with sub-verbs (``irtui NAME VERB ...``): its parser and the sub-verbs' parsers
    (one of them is required; the chosen one is ``args.<dest>``)."""
    p = sub.add_parser(name, help=text, description=text)
    return p, p.add_subparsers(dest=dest, required=True)


def action_parser(sub: argparse._SubParsersAction, name: str,  # type: ignore[type-arg]
                  help_text: str) -> argparse.ArgumentParser:
    """A subcommand that changes hosts: ``--dry-run``, ``--quiet``, ``--incident`` and
    ``--reason`` included."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no live remote output")
    record_options(p)
    return p


def record_options(p: argparse.ArgumentParser, reason: bool = True) -> None:
    """``--incident ID`` (and ``--reason TEXT``): where and why an action is recorded."""
    p.add_argument("--incident", metavar="ID",
                   help="record in this incident (default: your current incident, or a new "
                   "one when there is none)")
    if reason:
        p.add_argument("--reason", metavar="TEXT",
                       help="why this is done, recorded with the action (default: the "
                       "incident's title)")


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

        with self.lock, contextlib.suppress(OSError):  # a closed terminal: keep going
            if isinstance(event, StepStarted) and not self.quiet:
                print(f"{event.host} $ {event.command}   # {event.purpose}", file=sys.stderr)
            elif isinstance(event, Countdown) and not self.quiet:
                if event.seconds % 5 == 0:
                    print(f"{event.host}: {event.what} in {event.seconds} s", file=sys.stderr)
            elif isinstance(event, OutputLine) and not self.quiet:
                mark = "|" if event.stream == "stdout" else "!"
                print(f"{event.host} {mark} {event.line}", file=sys.stderr)
            elif isinstance(event, HostResult):
                word = "ok" if event.ok else event.outcome.value.upper()
                print(f"{event.host}: {word} — {event.message} ({event.duration:.2f} s)")
            elif isinstance(event, PlanResult):
                print(f"{event.summary}: {event.tally()}")
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



def recorder(config: Config, args: argparse.Namespace | None = None) -> IncidentRecorder:
    """The incident record for ``config``, with ``--incident``/``--reason`` from ``args``;
    what the recorder does by itself (opening an incident) is told on stderr."""
    from irtui.core.record import IncidentRecorder

    rec = IncidentRecorder.for_config(
        config, incident=getattr(args, "incident", None) or None,
        reason=getattr(args, "reason", None) or "",
        notice=lambda line: print(f"note: {line}", file=sys.stderr))
    rec.confirmation = "cli"
    return rec


def responder(config: Config, args: argparse.Namespace | None = None) -> Responder:
    """The action API for ``config``, recording in the incident record (``--incident``,
    ``--reason`` from ``args``). Kept on ``args.responder`` so an error that stops the verb
    is recorded too (see :func:`irtui.cli.run`)."""
    from irtui.core.actions import Responder

    fw = Responder(config, audit=recorder(config, args))
    if args is not None:
        args.responder = fw
    return fw


INTERRUPT_NOTICE = ("irtui: interrupted — stopping safely: no new step starts; an isolation "
                    "whose confirmation has not started is not confirmed, and its host rolls "
                    "back by itself when its timer fires (a confirmation already under way "
                    "may still complete, and one confirmed stays); each host's result below "
                    "says where it stands, and is being recorded")


@contextlib.contextmanager
def interruptible(cancel: threading.Event) -> Iterator[list[int]]:
    """While the block runs, Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal) set
    ``cancel`` instead of killing irtui, so a running plan ends in a known state and its
    result is recorded; a second signal only repeats the notice. Yields the list of
    signals received. Only in the main thread (signal(2) handlers); elsewhere a no-op."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum: int, frame: object) -> None:
        caught.append(signum)
        cancel.set()
        with contextlib.suppress(OSError):
            print(INTERRUPT_NOTICE if len(caught) == 1 else
                  "irtui: still stopping safely; the result is being recorded",
                  file=sys.stderr, flush=True)

    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in wanted}
    try:
        yield caught
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def run_plan(args: argparse.Namespace, fw: Responder, plan: Plan) -> int:
    """Print the plan's notes; with ``--dry-run`` print the plan, else execute it. The plan
    and the result go into the verb's ``--json`` document.

    Ctrl-C, SIGTERM or SIGHUP during execution stop it safely (see :func:`interruptible`);
    the result is recorded, marked interrupted.

    Returns:
        EXIT_OK; EXIT_REFUSED (5) when every host succeeded (or, with ``--dry-run``,
        would run) but some requested entries were refused (:func:`refused_exit`);
        EXIT_FAILED when any host failed (inconclusive included); 128 + the signal number
        (130 for Ctrl-C) when interrupted.
    """
    from irtui.commands.jsonout import report

    report().set_plan(plan)
    # a plan printed below lists its notes itself (--json -q prints none: see jsonout)
    printed = args.dry_run and not (getattr(args, "json", False) and args.quiet)
    if not printed:
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        print(plan.render())
        return refused_exit(plan)
    cancel = threading.Event()
    with interruptible(cancel) as caught:
        result = fw.execute(plan, Printer(args.quiet), cancel)
    report().add_result(result)
    if caught:
        return 128 + caught[0]
    return refused_exit(plan) if result.ok else EXIT_FAILED


def refused_exit(plan: Plan, more_refused: bool = False) -> int:
    """EXIT_REFUSED (5) when ``plan`` refused any requested entry on any host, or
    ``more_refused`` (e.g. feed records no plan could take), else EXIT_OK: a script must
    see that an IOC it passed was NOT blocked even though the rest was."""
    refused = more_refused or any(status.refused for per_host in plan.entries.values()
                                  for status in per_host.values())
    return EXIT_REFUSED if refused else EXIT_OK
