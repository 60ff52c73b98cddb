"""Reading verbs about hosts: ``status`` and ``probe``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from irtui.commands.common import hosts_exit, responder
from irtui.core.errors import InvalidTargetError, IrtuiError
from irtui.core.firewall.state import IsolationStatus

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.core.config import Config, HostConfig


def each_host(config: Config, names: list[str],
              render: Callable[[Responder, HostConfig], tuple[str, bool]]) -> int:
    """Print ``render(responder, host)`` per host; an unreachable host prints its one-line
    error and the others still print.

    Args:
        render: returns the host's line and whether it needs attention (exit code 1).

    Returns:
        See :func:`~irtui.commands.common.hosts_exit`.
    """
    if not config.hosts:
        raise InvalidTargetError(f"no hosts in {config.path or 'the config'}",
                                 "add [[hosts]] tables (see config.example.toml)")
    fw = responder(config)
    errors: list[IrtuiError] = []
    attention = False
    chosen = config.select(names or ["all"])
    for host in chosen:
        try:
            line, alarm = render(fw, host)
        except IrtuiError as exc:
            print(f"{host.name:<12} {exc.line}")
            errors.append(exc)
            continue
        print(line)
        attention = attention or alarm
    return hosts_exit(len(chosen), errors, attention)


def cmd_probe(args: argparse.Namespace, config: Config) -> int:
    """``irtui probe``: each host's preflight line (a backend conflict needs attention)."""
    def line(fw: Responder, host: HostConfig) -> tuple[str, bool]:
        profile = fw.profile(host.name)
        return f"{host.name:<12} {profile.preflight}", bool(profile.choice.conflict)

    return each_host(config, args.hosts, line)


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """``irtui status``: reachable, isolation (normal / isolated since / PARTIAL), number of
    blocks and how many of them are NOT ENFORCED, and a backend conflict."""
    def line(fw: Responder, host: HostConfig) -> tuple[str, bool]:
        state = fw.read_state(host.name)
        status = state.isolation_status
        iso = status.value if status is not IsolationStatus.PARTIAL else "PARTIAL isolation"
        if state.isolation and state.isolation.since:
            iso += f" since {state.isolation.since}"
        if state.isolation and state.isolation.problem:
            iso += f" ({state.isolation.problem})"
        blocked = f"{len(state.blocks)} blocked"
        unenforced = state.not_enforced
        if unenforced:
            blocked += (f", {len(unenforced)} NOT ENFORCED ("
                        f"{'; '.join(state.gaps[:2]) or 'rules not confirmed'})")
        conflict = fw.profile(host.name).choice.conflict
        text = (f"{host.name:<12} {host.address:<20} reachable    {iso}; {blocked}"
                + (f"; CONFLICT: {conflict}" if conflict else ""))
        return text, bool(unenforced or status is IsolationStatus.PARTIAL or conflict)

    return each_host(config, args.hosts, line)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``probe`` and ``status`` to ``sub``."""
    text = "preflight: firewall backend and why, IPv6 protection, firewall managers"
    p = sub.add_parser("probe", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to probe (default: all)")
    p.set_defaults(handler=cmd_probe)
    text = ("show each host's live state: reachable, isolation (normal, isolated since, PARTIAL),"
            " number of blocks and how many are NOT ENFORCED")
    p = sub.add_parser("status", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to read (default: all)")
    p.set_defaults(handler=cmd_status)
