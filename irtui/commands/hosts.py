"""Reading verbs about hosts: ``status`` and ``probe``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irtui.commands import jsondata, jsonout
from irtui.commands.common import EXIT_OK, ON_HELP, hosts_exit, responder, verb_group
from irtui.core.errors import InvalidTargetError, IrtuiError

if TYPE_CHECKING:
    from irtui.core.actions.profiles import HostProfile
    from irtui.core.actions.reads import HostRead
    from irtui.core.config import Config, HostConfig


def each_host(config: Config, names: list[str],
              render: Callable[[HostConfig, Any, Any], tuple[str, bool, dict[str, Any]]],
              probe_only: bool = False) -> int:
    """Read the hosts at once (probe and firewall, one round trip each; with ``probe_only``
    a fresh probe alone) and print ``render(host, read, responder)`` per host as soon as that host
    answered; an unreachable host prints its one-line error and the others still print.
    ``--json``: one row per host in ``data.hosts``, in the order of the config.

    Args:
        render: returns the host's line, whether it needs attention (exit code 1), and
            its ``--json`` row.

    Returns:
        See :func:`~irtui.commands.common.hosts_exit`.
    """
    if not config.hosts:
        raise InvalidTargetError(f"no hosts in {config.path or 'the config'}",
                                 "add [[hosts]] tables (see config.example.toml)")
    fw = responder(config)
    chosen = {h.name: h for h in config.select(names or ["all"])}
    errors: list[IrtuiError] = []
    rows: dict[str, dict[str, Any]] = {}
    attention = [False]

    def show(name: str, got: Any) -> None:
        if isinstance(got, IrtuiError):
            print(f"{name:<12} {got.line}", flush=True)
            errors.append(got)
            rows[name] = jsonout.host_error(name, got)
            return
        line, alarm, rows[name] = render(chosen[name], got, fw)
        print(line, flush=True)
        attention[0] = attention[0] or alarm

    try:
        (fw.probe_many if probe_only else fw.read_many)(list(chosen), show)
    finally:  # --json: the rows in the config's order, also those read before a Ctrl-C
        for name in chosen:
            if name in rows:
                jsonout.report().host(rows[name])
    return hosts_exit(len(chosen), errors, attention[0])


def cmd_probe(args: argparse.Namespace, config: Config) -> int:
    """``irtui probe``: each host's preflight line (a backend conflict needs attention)."""
    def line(host: HostConfig, profile: HostProfile, _: Any) -> tuple[str, bool, dict[str, Any]]:
        attention = bool(profile.choice.conflict) or not profile.facts.network_known
        return f"{host.name:<12} {profile.preflight}", attention, jsonout.probe_row(host, profile)

    return each_host(config, [*args.hosts, *(args.on or [])], line, probe_only=True)


def _with_timer(iso: str, fw: Any, name: str) -> tuple[str, bool]:
    """``iso`` with what the host's rollback timer says when it is not simply confirmed
    (an isolation left unconfirmed, e.g. by a killed irtui, undoes itself), and whether
    that needs attention."""
    from irtui.core.rollback import TimerState

    try:
        timer = fw.rollback_status(name)
    except IrtuiError as exc:
        return f"{iso}; rollback timer unknown ({exc.line})", True
    if timer.state is TimerState.ARMED:
        left = timer.fires_in
        return f"{iso} — NOT CONFIRMED: the host rolls it back by itself{left}", True
    if timer.state is TimerState.UNKNOWN:
        return f"{iso}; rollback timer unknown", True
    return iso, False


def _leftover_timer(fw: Any, name: str) -> str:
    """On a host that is not isolated: a rollback timer still armed (an isolation
    interrupted before its confirmation, then released) fires by itself and removes
    nothing, but a new isolation waits for it; say so. "" when none, or unreadable."""
    from irtui.core.rollback import TimerState

    try:
        timer = fw.rollback_status(name)
    except IrtuiError:
        return ""
    if timer.state is not TimerState.ARMED:
        return ""
    left = timer.fires_in
    return (f" (a rollback timer from an interrupted isolation is still armed: it fires by "
            f"itself{left} and changes nothing now; a new isolate waits for it: irtui release "
            f"{name} disarms it)")


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """``irtui status``: reachable, isolation (normal / isolated since / PARTIAL), number of
    blocks and how many of them are NOT ENFORCED; with a backend conflict, the conflict and
    its fix instead, the isolation and the blocks unknown (the backend read is not where
    all of irtui's state is)."""
    from irtui.core.firewall.state import IsolationStatus

    def line(host: HostConfig, got: HostRead, fw: Any) -> tuple[str, bool, dict[str, Any]]:
        choice = got.profile.choice
        if choice.conflict:  # what the backend read holds is not the host's whole state
            text = (f"{host.name:<12} {host.address:<20} reachable    isolation unknown; "
                    f"blocks unknown; {choice.conflict_line}")
            return text, True, jsonout.status_row(host, got.state, choice.conflict, True)
        state = got.state
        status = state.isolation_status
        iso = status.value if status is not IsolationStatus.PARTIAL else "PARTIAL isolation"
        if state.isolation and state.isolation.since:
            iso += f" since {state.isolation.since}"
        if state.isolation and state.isolation.problem:
            iso += f" ({state.isolation.problem})"
        pending = False
        if state.isolation is not None:  # confirmed, or about to undo itself?
            iso, pending = _with_timer(iso, fw, host.name)
        else:
            iso += _leftover_timer(fw, host.name)
        blocked = f"{len(state.blocks)} blocked"
        unenforced = state.not_enforced
        if unenforced:
            blocked += (f", {len(unenforced)} of them NOT ENFORCED ("
                        f"{'; '.join(state.gaps[:2]) or 'rules not confirmed'})")
        text = f"{host.name:<12} {host.address:<20} reachable    {iso}; {blocked}"
        blind = not got.profile.facts.network_known  # blocks refused there: see probe
        if blind:
            text += "; ADDRESSES AND ROUTES UNKNOWN: blocks refused (irtui probe)"
        attention = bool(unenforced or status is IsolationStatus.PARTIAL or pending or blind)
        return text, attention, jsonout.status_row(host, state, "", attention)

    return each_host(config, [*args.hosts, *(args.on or [])], line)


def cmd_hosts_import(args: argparse.Namespace, config: Config | None = None) -> int:
    """``irtui hosts import INVENTORY``: show the hosts an Ansible inventory adds, then
    append them to the config (or ``--out``), keeping the rest of the file as it is."""
    from irtui.core.config_hosts import plan_import, write_import
    from irtui.core.inventory import read_inventory
    from irtui.core.paths import default_config_path

    hosts = read_inventory(args.inventory)
    plan = plan_import(Path(args.config or default_config_path()), hosts, args.inventory)
    if args.out:
        plan.path = Path(args.out)
    target = plan.path
    for table in plan.added:
        where = f"{table.get('user', '')}@" if table.get("user") else ""
        port = f":{table['port']}" if "port" in table else ""
        groups = ",".join(table.get("groups", [])) or "-"
        print(f"+ {table['name']:<24} {where}{table['address']}{port:<8} groups {groups}")
    for name, why in plan.skipped:
        print(f"  {name:<24} skipped: {why}")
    verb = "would add" if args.dry_run else "added"
    print(f"{verb} {len(plan.added)} host(s) to {target}; skipped {len(plan.skipped)}")
    written = not args.dry_run and bool(plan.added)
    if written:
        write_import(plan)
    jsonout.report().put(**jsondata.host_import(plan, written))  # --json
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``probe``, ``status`` and ``hosts import`` to ``sub``."""
    p, hsub = verb_group(sub, "hosts", "manage the host list", "hosts_cmd")
    s = hsub.add_parser("import", help="add the hosts of an Ansible inventory (INI or YAML) "
                        "to the config, keeping its comments")
    s.add_argument("inventory", metavar="INVENTORY", help="inventory file (.ini or .yml)")
    s.add_argument("--out", metavar="PATH", help="write the result to this new file instead "
                   "of changing the config in place")
    s.add_argument("--dry-run", action="store_true", help="show what would be added")
    p.set_defaults(handler=cmd_hosts_import, needs_config=False)
    text = "preflight: firewall backend and why, IPv6 protection, firewall managers"
    p = sub.add_parser("probe", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to probe (default: all)")
    p.add_argument("--on", action="append", metavar="HOST", help=ON_HELP + " (as HOST)")
    p.set_defaults(handler=cmd_probe)
    text = ("show each host's live state: reachable, isolation (normal, isolated since, PARTIAL),"
            " number of blocks and how many are NOT ENFORCED")
    p = sub.add_parser("status", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to read (default: all)")
    p.add_argument("--on", action="append", metavar="HOST", help=ON_HELP + " (as HOST)")
    p.set_defaults(handler=cmd_status)
