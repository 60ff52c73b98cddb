"""Containment verbs: ``block``, ``unblock``, ``blocks``, ``isolate``, ``release``."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import TYPE_CHECKING, Any

from irtui.commands import jsonout
from irtui.commands.common import (
    EXIT_OK,
    EXIT_REFUSED,
    ON_HELP,
    action_parser,
    hosts_exit,
    responder,
    run_plan,
)
from irtui.core.errors import ActionError, InvalidTargetError, IrtuiError

if TYPE_CHECKING:
    from irtui.core.config import Config
    from irtui.core.feed_formats import Feed
    from irtui.core.plan import Plan

FEED_HELP = ("also {verb} every entry of FEED ('-' reads stdin; repeatable). Formats, detected "
             "by content: one address/CIDR per line with # or ; comments (FireHOL netsets, "
             "Spamhaus DROP/EDROP), CSV with an address column (abuse.ch style commented "
             "headers too), CrowdSec decisions JSON, STIX 2.1 indicators, Spamhaus JSON")


def _accounting(plan: Plan) -> None:
    counts = plan.counts()
    if not counts:
        return
    for host, per_host in plan.entries.items():
        for entry, status in per_host.items():
            if status.refused:
                print(f"{host}: {entry} {status}", file=sys.stderr)
    total = sum(counts.values())
    print(f"plan for entries × hosts: {total} — " + ", ".join(f"{n} {k}" for k, n in
                                                   sorted(counts.items())), file=sys.stderr)


def _targets(args: argparse.Namespace) -> tuple[list[str], list[tuple[str, Feed]]]:
    """The positional IOCs (pasted text split like the TUI splits it) plus every entry of
    ``--from-file`` feeds (``-``: stdin)."""
    from irtui.core.feeds import load_feed
    from irtui.core.ioc_paste import split_pasted

    targets = [t for arg in args.targets for t in split_pasted(arg)]
    feeds = [load_feed(path) for path in args.from_file or []]
    for _, feed in feeds:
        targets += feed.entries
    if not targets:
        if any(feed.refused for _, feed in feeds):
            _feed_lines(feeds, None)
        if feeds:
            names = ", ".join(name for name, _ in feeds)
            kind = "feed" if len(feeds) == 1 else "feeds"
            unusable = " (no record in it irtui can block)" if any(
                feed.refused for _, feed in feeds) else ""
            raise InvalidTargetError(f"{kind} {names} held no address{unusable}; nothing to "
                                     f"{args.cmd}", "check the path given to --from-file "
                                     "(is it the right, non-empty file?) or name addresses")
        raise InvalidTargetError("no address given", "name addresses or use --from-file FEED")
    return targets, feeds


def _feed_lines(feeds: list[tuple[str, Feed]], plan: Plan | None) -> None:
    from irtui.core.feed_accounting import account

    accounts = [account(name, feed, plan) for name, feed in feeds]
    jsonout.report().put(feeds=jsonout.feed_accounts(accounts))  # --json: data.feeds
    for line in accounts:
        print(line.line(), file=sys.stderr)


def cmd_block(args: argparse.Namespace, config: Config) -> int:
    """``irtui block``: plan, check the typed prefix confirmation, execute, account. Exit 5
    (EXIT_REFUSED) when the valid entries were blocked but some requested ones refused."""
    fw = responder(config, args)
    ttl = args.ttl if args.ttl is not None else "default"
    targets, feeds = _targets(args)
    try:
        plan = fw.plan_block(targets, args.on, ttl)
    except InvalidTargetError:
        _feed_lines(feeds, None)
        raise
    jsonout.report().set_plan(plan)  # --json: the plan even when refused below
    sizes = ", ".join(f"{n} covers {ipaddress.ip_network(n).num_addresses:,} addresses"
                      for n in plan.confirm_text.split()) if plan.confirm_text else ""
    if plan.confirm_text and args.dry_run and args.confirm_prefix != plan.confirm_text:
        # the dry run shows what the real run would do: refuse without the typed prefix
        plan.notes.append("a prefix above the confirm size: the real run is refused without "
                          "--confirm-prefix "
                          f"'{plan.confirm_text}'"
                          + (f" (--confirm-prefix '{args.confirm_prefix}' does not match)"
                             if args.confirm_prefix else ""))
    if plan.confirm_text and not args.dry_run and args.confirm_prefix != plan.confirm_text:
        raise InvalidTargetError(
            f"{sizes}, more than firewall.confirm_prefix_v4/v6 allows without a typed "
            "confirmation; nothing was changed",
            f"re-run with --confirm-prefix '{plan.confirm_text}' if you mean it")
    code = run_plan(args, fw, plan)
    _accounting(plan)
    _feed_lines(feeds, plan)
    return _with_feed_refusals(code, feeds)


def _with_feed_refusals(code: int, feeds: list[tuple[str, Feed]]) -> int:
    """``code``, or EXIT_REFUSED when it is EXIT_OK but a feed held records irtui could
    not use (they were requested and are not applied)."""
    return EXIT_REFUSED if code == EXIT_OK and any(f.refused for _, f in feeds) else code


def cmd_unblock(args: argparse.Namespace, config: Config) -> int:
    """``irtui unblock``: the IOCs named and/or every entry of ``--from-file`` feeds."""
    fw = responder(config, args)
    targets, feeds = _targets(args)
    plan = fw.plan_unblock(targets, args.on)
    code = run_plan(args, fw, plan)
    _feed_lines(feeds, plan)
    return _with_feed_refusals(code, feeds)


def cmd_isolate(args: argparse.Namespace, config: Config) -> int:
    """``irtui isolate``."""
    fw = responder(config, args)
    plan = fw.plan_isolate(
        args.hosts, confirm_timeout=args.confirm_timeout, extra_management=args.management or (),
        keep_session_address=not args.no_session_address, canary=args.canary)
    if args.collect_first:
        plan = fw.plan_collect(plan.hosts, volatile_only=True, incident=args.incident, then=plan)
    return run_plan(args, fw, plan)


def cmd_release(args: argparse.Namespace, config: Config) -> int:
    """``irtui release``."""
    fw = responder(config, args)
    return run_plan(args, fw, fw.plan_release(args.hosts))


def cmd_blocks(args: argparse.Namespace, config: Config) -> int:
    """``irtui blocks``: the live blocklist read back from each host (all at once), with each
    entry's enforcement. The table prints each host as it answers; a host that cannot be read
    prints its error and the others still print; ``--json``: one row per host in
    ``data.hosts``, in the config's order. The exit code follows
    :func:`~irtui.commands.common.hosts_exit`."""
    from irtui.core.gcpause import gc_paused

    with gc_paused():  # 100,000 rows: see irtui.core.gcpause
        return _blocks(args, config)


def _blocks(args: argparse.Namespace, config: Config) -> int:
    from irtui.core.durations import format_duration

    fw = responder(config, args)
    chosen = config.select(args.on or ["all"])
    gaps: list[str] = []
    rows: dict[str, dict[str, Any]] = {}  # --json: data.hosts
    unenforced = [False]
    failed: dict[str, IrtuiError] = {}  # unreadable, or its backends in CONFLICT

    def show(name: str, got: object) -> None:
        if not isinstance(got, IrtuiError):
            got = _conflict_error(name, got) or got
        if isinstance(got, IrtuiError):
            rows[name] = jsonout.host_error(name, got)
            failed[name] = got
            print(f"{name:<12} ✗ {got.line}", flush=True)
            return
        state = got.state  # type: ignore[attr-defined]
        rows[name] = jsonout.blocks_row(state)
        gaps.extend(f"{name}: {gap}" for gap in state.gaps)
        loose = sum(1 for e in state.blocks if not e.enforced)
        unenforced[0] = unenforced[0] or loose > 0
        if args.json:  # the entries are on stdout; stderr says what came back, not again
            print(f"{name:<12} {len(state.blocks):,} entries"
                  + (f", {loose:,} of them NOT ENFORCED" if loose else ""), flush=True)
            return
        print("".join(f"{name:<12} {e.text:<40} v{e.family:<3} "
                      f"{format_duration(e.expires):<11} "
                      f"{'yes' if e.enforced else e.enforcement.value.upper()}\n"
                      for e in state.blocks), end="", flush=True)

    if not args.json:
        print(f"{'HOST':<12} {'ENTRY':<40} {'FAM':<4} {'EXPIRES IN':<11} ENFORCED")
    try:
        got = fw.read_many([h.name for h in chosen], show)
    finally:  # --json: the hosts in the config's order, also those read before a Ctrl-C
        for host in chosen:
            if host.name in rows:
                jsonout.report().host(rows[host.name])
    errors = [failed[name] for name in got if name in failed]
    if not errors and not any(row["entries"] for row in rows.values()):
        print("(no blocks)")
    for gap in gaps:
        print(f"not enforced: {gap}")
    return hosts_exit(len(chosen), errors, unenforced[0])


def _conflict_error(name: str, got: object) -> ActionError | None:
    """The error ``blocks`` shows for a host whose preflight found a backend conflict (the
    blocks read from the one backend irtui uses there are not all of them), else None."""
    choice = got.profile.choice  # type: ignore[attr-defined]
    if not choice.conflict:
        return None
    return ActionError(f"{name}: CONFLICT: {choice.conflict}; its blocks are unknown",
                       choice.conflict_fix)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the containment verbs to ``sub``."""
    p = action_parser(sub, "block", "block addresses/CIDRs (IOCs) on hosts")
    p.add_argument("targets", nargs="*", metavar="IOC",
                   help="IPv4/IPv6 address or CIDR; pasted lists and defanged IOCs "
                   "(203.0.113[.]7) are read too")
    p.add_argument("--from-file", metavar="FEED", action="append",
                   help=FEED_HELP.format(verb="block"))
    p.add_argument("--confirm-prefix", metavar="PREFIX",
                   help="typed confirmation for prefixes larger than the confirm size")
    p.add_argument("--on", action="append", required=True, metavar="HOST", help=ON_HELP)
    p.add_argument("--ttl", help="expiry such as 30m, 24h, 7d or 'permanent' "
                   "(default firewall.default_ttl)")
    p.set_defaults(handler=cmd_block)

    p = action_parser(sub, "unblock", "remove addresses/CIDRs from hosts' blocklists")
    p.add_argument("targets", nargs="*", metavar="IOC", help="IPv4/IPv6 address or CIDR")
    p.add_argument("--from-file", metavar="FEED", action="append",
                   help=FEED_HELP.format(verb="unblock"))
    p.add_argument("--on", action="append", required=True, metavar="HOST", help=ON_HELP)
    p.set_defaults(handler=cmd_unblock)

    p = action_parser(sub, "isolate", "isolate hosts (commit-confirmed), keeping management "
                      "access")
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
    p.add_argument("--collect-first", action="store_true",
                   help="collect the volatile evidence (network state, processes) first, "
                   "then isolate; reports how long that took before containment began")
    p.set_defaults(handler=cmd_isolate)

    p = action_parser(sub, "release", "remove irtui's isolation from hosts")
    p.add_argument("hosts", nargs="+", metavar="HOST")
    p.set_defaults(handler=cmd_release)

    text = "list the live blocklist, read back from each host's firewall"
    p = sub.add_parser("blocks", help=text, description=text)
    p.add_argument("--on", action="append", default=None, metavar="HOST",
                   help=ON_HELP + " (default: all)")
    p.set_defaults(handler=cmd_blocks)
