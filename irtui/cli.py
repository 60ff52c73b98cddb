"""The headless front: every action as a scriptable subcommand on the shared core.

Exit codes: 0 success; 1 the action failed on at least one host; 2 bad input or config
(nothing changed); 3 a host could not be reached or its key was refused (nothing changed
there); 4 a secret or notification problem.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from irtui.core.actions import Responder
from irtui.core.config import Config, HostConfig, default_config_path, load_config
from irtui.core.durations import format_duration
from irtui.core.errors import (
    AuditError,
    ConfigError,
    InvalidTargetError,
    IrtuiError,
    NotifyError,
    SecretError,
    SSHError,
)
from irtui.core.feeds import read_feed
from irtui.core.notify_email import build_message
from irtui.core.plan import Countdown, Event, HostResult, OutputLine, Plan, PlanResult, StepStarted

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_UNREACHABLE, EXIT_NOTIFY = 0, 1, 2, 3, 4
ON_HELP = "enforcement point: host name, @group or all (repeatable)"


def _exit_code(exc: IrtuiError) -> int:
    if isinstance(exc, ConfigError | InvalidTargetError | AuditError):
        return EXIT_INPUT
    if isinstance(exc, SSHError):
        return EXIT_UNREACHABLE
    if isinstance(exc, SecretError | NotifyError):
        return EXIT_NOTIFY
    return EXIT_FAILED


class _Printer:
    """Renders events: remote output and progress on stderr, results on stdout."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
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


def _responder(config: Config) -> Responder:
    return Responder(config)


def _run_plan(args: argparse.Namespace, responder: Responder, plan: Plan) -> int:
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        print(plan.render())
        return EXIT_OK
    result = responder.execute(plan, _Printer(args.quiet))
    return EXIT_OK if result.ok else EXIT_FAILED


def _accounting(plan: Plan) -> None:
    counts = plan.counts()
    if not counts:
        return
    for host, per_host in plan.entries.items():
        for entry, status in per_host.items():
            if status.startswith("refused"):
                print(f"{host}: {entry} {status}", file=sys.stderr)
    total = sum(counts.values())
    print(f"plan for entries × hosts: {total} — " + ", ".join(f"{n} {k}" for k, n in
                                                   sorted(counts.items())), file=sys.stderr)


def cmd_block(args: argparse.Namespace, config: Config) -> int:
    responder = _responder(config)
    ttl = args.ttl if args.ttl is not None else "default"
    targets = list(args.targets)
    if args.from_file:
        targets += read_feed(args.from_file)
    if not targets:
        raise InvalidTargetError("no address given", "name addresses or use --from-file FEED")
    plan = responder.plan_block(targets, args.on, ttl)
    if plan.confirm_text and not args.dry_run and args.confirm_prefix != plan.confirm_text:
        sizes = ", ".join(f"{n} covers {ipaddress.ip_network(n).num_addresses:,} addresses"
                          for n in plan.confirm_text.split())
        raise InvalidTargetError(
            f"{sizes}, more than firewall.confirm_prefix_v4/v6 allows without a typed "
            "confirmation; nothing was changed",
            f"re-run with --confirm-prefix '{plan.confirm_text}' if you mean it")
    code = _run_plan(args, responder, plan)
    _accounting(plan)
    return code


def _each_host(config: Config, names: list[str],
               render: Callable[[Responder, HostConfig], str]) -> int:
    """Print ``render(responder, host)`` per host; an unreachable host prints its one-line
    error and sets the exit code, the others still print."""
    if not config.hosts:
        raise InvalidTargetError(f"no hosts in {config.path or 'the config'}",
                                 "add [[hosts]] tables (see config.example.toml)")
    responder = _responder(config)
    worst = EXIT_OK
    for host in config.select(names or ["all"]):
        try:
            print(render(responder, host))
        except IrtuiError as exc:
            print(f"{host.name:<12} {exc.line}")
            worst = max(worst, _exit_code(exc))
    return worst


def cmd_probe(args: argparse.Namespace, config: Config) -> int:
    return _each_host(config, args.hosts,
                      lambda r, h: f"{h.name:<12} {r.profile(h.name).preflight}")


def cmd_unblock(args: argparse.Namespace, config: Config) -> int:
    responder = _responder(config)
    return _run_plan(args, responder, responder.plan_unblock(args.targets, args.on))


def cmd_isolate(args: argparse.Namespace, config: Config) -> int:
    responder = _responder(config)
    plan = responder.plan_isolate(
        args.hosts, confirm_timeout=args.confirm_timeout, extra_management=args.management or (),
        keep_session_address=not args.no_session_address, canary=args.canary)
    return _run_plan(args, responder, plan)


def cmd_release(args: argparse.Namespace, config: Config) -> int:
    responder = _responder(config)
    return _run_plan(args, responder, responder.plan_release(args.hosts))


def cmd_blocks(args: argparse.Namespace, config: Config) -> int:
    responder = _responder(config)
    rows = []
    for host in config.select(args.on):
        state = responder.read_state(host.name)
        for entry in state.blocks:
            rows.append({"host": host.name, "entry": entry.text, "family": entry.family,
                         "expires_s": entry.expires, "timeout_s": entry.timeout})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'HOST':<12} {'ENTRY':<40} {'FAM':<4} EXPIRES IN")
        for row in rows:
            print(f"{row['host']:<12} {row['entry']:<40} v{row['family']:<3} "
                  f"{format_duration(row['expires_s'])}")
        if not rows:
            print("(no blocks)")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    def line(responder: Responder, host: HostConfig) -> str:
        state = responder.read_state(host.name)
        iso = "isolated" if state.isolated else "normal"
        if state.isolation and state.isolation.since:
            iso += f" since {state.isolation.since}"
        return (f"{host.name:<12} {host.address:<20} reachable    {iso}; "
                f"{len(state.blocks)} blocked")

    return _each_host(config, args.hosts, line)


def _read_body(path: str) -> str:
    try:
        return Path(path).read_text("utf-8")
    except OSError as exc:
        raise InvalidTargetError(f"cannot read the message body {path} ({exc.strerror})",
                                 "check the path given to --body-file") from None
    except UnicodeDecodeError:
        raise InvalidTargetError(f"message body {path} is not UTF-8 text",
                                 "convert it to UTF-8") from None


def cmd_notify(args: argparse.Namespace, config: Config) -> int:
    body = _read_body(args.body_file) if args.body_file else args.body
    if body is None:
        raise InvalidTargetError("no message body", "pass --body TEXT or --body-file PATH")
    if args.dry_run:
        settings = config.email
        if not settings.configured:
            raise NotifyError("email is not configured",
                              "set notify.email.host and notify.email.sender in the config")
        message = build_message(settings, args.to or [], args.subject, body)
        print(f"email via {settings.host}:{settings.port} ({settings.security})\n"
              f"{message.as_string()}")
        return EXIT_OK
    message_id = _responder(config).notify_email(args.to or [], args.subject, body)
    print(f"sent {message_id}")
    return EXIT_OK


def cmd_secrets(args: argparse.Namespace) -> int:
    from irtui.core import secrets

    if args.secrets_cmd == "set":
        if sys.stdin.isatty() and not args.stdin:
            import getpass

            value = getpass.getpass(f"value for secret {args.name!r}: ")
        else:
            value = sys.stdin.read().rstrip("\r\n")
        secrets.set_secret(args.name, value)
        print(f"stored secret {args.name!r} in the OS keyring ({secrets.backend_name()})")
    elif args.secrets_cmd == "delete":
        gone = secrets.delete_secret(args.name)
        print(f"deleted {args.name!r}" if gone else f"{args.name!r} was not stored")
    else:
        print(f"keyring backend: {secrets.backend_name()}")
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from irtui.lab.lab import lab_down, lab_status, lab_up
    from irtui.lab.spec import LabSpec

    spec = LabSpec(hosts=args.hosts) if args.lab_cmd == "up" else LabSpec()
    if args.lab_cmd == "up":
        info = lab_up(spec)
        print(f"lab is up: {', '.join(h.name for h in info.hosts)} and attacker "
              f"{info.attacker.v4}")
        print(f"config: {info.config_path}")
        print(f"open it with: irtui --config {info.config_path}")
    elif args.lab_cmd == "down":
        removed = lab_down(spec)
        print("\n".join(removed) if removed else "nothing to remove")
    else:
        status = lab_status(spec)
        print(status)
        return EXIT_OK if status.up else EXIT_FAILED
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``irtui``."""
    parser = argparse.ArgumentParser(
        prog="irtui", description="Incident-response console: contain, block, notify, record. "
        "Without a subcommand it opens the TUI.")
    parser.add_argument("--config", metavar="PATH",
                        help=f"config file (default: $IRTUI_CONFIG or {default_config_path()})")
    sub = parser.add_subparsers(dest="cmd")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
        p.add_argument("-q", "--quiet", action="store_true", help="no live remote output")
        return p

    sub.add_parser("tui", help="open the TUI (the default)")
    p = action("block", "block addresses/CIDRs (IOCs) on hosts")
    p.add_argument("targets", nargs="*", metavar="ADDR", help="IPv4/IPv6 address or CIDR")
    p.add_argument("--from-file", metavar="FEED",
                   help="also block every entry of FEED (one per line, # comments, or CSV "
                   "with an address column)")
    p.add_argument("--confirm-prefix", metavar="PREFIX",
                   help="typed confirmation for prefixes larger than the confirm size")
    p.add_argument("--on", action="append", required=True, metavar="HOST",
                   help=ON_HELP)
    p.add_argument("--ttl", help="expiry such as 30m, 24h, 7d or 'permanent' "
                   "(default firewall.default_ttl)")
    p = action("unblock", "remove addresses/CIDRs from hosts' blocklists")
    p.add_argument("targets", nargs="+", metavar="ADDR", help="IPv4/IPv6 address or CIDR")
    p.add_argument("--on", action="append", required=True, metavar="HOST", help=ON_HELP)
    p = action("isolate", "isolate hosts (commit-confirmed), keeping management access")
    p.add_argument("hosts", nargs="+", metavar="HOST")
    p.add_argument("--confirm-timeout", type=int, metavar="SECONDS",
                   help="the host undoes the isolation by itself unless irtui confirms over a "
                   "new SSH connection within this time (default isolation.confirm_timeout)")
    p.add_argument("--management", action="append", metavar="ADDR",
                   help="also keep this address/CIDR/name reachable (repeatable)")
    p.add_argument("--no-session-address", action="store_true",
                   help="do not keep this SSH session's source address (expert: only when the "
                   "session arrives through an address that must not stay allowed)")
    p.add_argument("--canary", metavar="ADDR:PORT",
                   help="self-test target that must become unreachable (default: the first "
                   "of isolation.canaries that is not the host itself)")
    p = action("release", "remove irtui's isolation from hosts")
    p.add_argument("hosts", nargs="+", metavar="HOST")
    text = "list the live blocklist, read back from each host's firewall"
    p = sub.add_parser("blocks", help=text, description=text)
    p.add_argument("--on", action="append", default=None, metavar="HOST",
                   help=ON_HELP + " (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    text = "preflight: firewall backend and why, IPv6 protection, firewall managers"
    p = sub.add_parser("probe", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to probe (default: all)")
    text = "show each host's live state: reachable, isolated since, number of blocks"
    p = sub.add_parser("status", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to read (default: all)")
    text = "email the team (SMTP password from the OS keyring)"
    p = sub.add_parser("notify", help=text, description=text)
    p.add_argument("--to", action="append", metavar="ADDR",
                   help="recipient (repeatable; default notify.email.to)")
    p.add_argument("--subject", required=True, help="subject line (UTF-8)")
    p.add_argument("--body", help="message text (UTF-8)")
    p.add_argument("--body-file", metavar="PATH", help="read the message text from a file")
    p.add_argument("--dry-run", action="store_true", help="print the message, send nothing")
    p = sub.add_parser("secrets", help="manage secrets in the OS keyring")
    ssub = p.add_subparsers(dest="secrets_cmd", required=True)
    s = ssub.add_parser("set", help="store a secret (read from stdin or prompted)")
    s.add_argument("name")
    s.add_argument("--stdin", action="store_true", help="read the value from stdin")
    s = ssub.add_parser("delete", help="remove a secret")
    s.add_argument("name")
    ssub.add_parser("status", help="show the keyring backend")
    p = sub.add_parser("lab", help="the local practice lab (root, Linux)")
    lsub = p.add_subparsers(dest="lab_cmd", required=True)
    s = lsub.add_parser("up", help="create or repair the lab")
    s.add_argument("--hosts", type=int, default=3)
    lsub.add_parser("down", help="remove the lab")
    lsub.add_parser("status", help="show the lab")
    return parser


COMMANDS = {"block": cmd_block, "unblock": cmd_unblock, "isolate": cmd_isolate,
            "release": cmd_release, "blocks": cmd_blocks, "status": cmd_status,
            "probe": cmd_probe,
            "notify": cmd_notify}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``irtui`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.cmd == "secrets":
            return cmd_secrets(args)
        if args.cmd == "lab":
            return cmd_lab(args)
        config = load_config(args.config)
        if args.cmd in (None, "tui"):
            from irtui.tui.app import run_app

            return run_app(config)
        if args.cmd == "blocks" and not args.on:
            args.on = ["all"]
        return COMMANDS[args.cmd](args, config)
    except IrtuiError as exc:
        print(f"irtui: {exc.line}", file=sys.stderr)
        return _exit_code(exc)
    except KeyboardInterrupt:
        print("irtui: interrupted", file=sys.stderr)
        return 130
