"""Reading verbs about hosts: ``status`` and ``probe``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from irtui.commands.common import EXIT_OK, exit_code, responder
from irtui.core.errors import InvalidTargetError, IrtuiError

if TYPE_CHECKING:
    from irtui.core.actions import Responder
    from irtui.core.config import Config, HostConfig


def each_host(config: Config, names: list[str],
              render: Callable[[Responder, HostConfig], str]) -> int:
    """Print ``render(responder, host)`` per host; an unreachable host prints its one-line
    error and sets the exit code, the others still print.

    Returns:
        The worst exit code met (EXIT_OK when every host answered).
    """
    if not config.hosts:
        raise InvalidTargetError(f"no hosts in {config.path or 'the config'}",
                                 "add [[hosts]] tables (see config.example.toml)")
    fw = responder(config)
    worst = EXIT_OK
    for host in config.select(names or ["all"]):
        try:
            print(render(fw, host))
        except IrtuiError as exc:
            print(f"{host.name:<12} {exc.line}")
            worst = max(worst, exit_code(exc))
    return worst


def cmd_probe(args: argparse.Namespace, config: Config) -> int:
    """``irtui probe``: each host's preflight line."""
    return each_host(config, args.hosts,
                     lambda r, h: f"{h.name:<12} {r.profile(h.name).preflight}")


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """``irtui status``: reachable, isolated since, number of blocks."""
    def line(fw: Responder, host: HostConfig) -> str:
        state = fw.read_state(host.name)
        iso = "isolated" if state.isolated else "normal"
        if state.isolation and state.isolation.since:
            iso += f" since {state.isolation.since}"
        return (f"{host.name:<12} {host.address:<20} reachable    {iso}; "
                f"{len(state.blocks)} blocked")

    return each_host(config, args.hosts, line)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``probe`` and ``status`` to ``sub``."""
    text = "preflight: firewall backend and why, IPv6 protection, firewall managers"
    p = sub.add_parser("probe", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to probe (default: all)")
    p.set_defaults(handler=cmd_probe)
    text = "show each host's live state: reachable, isolated since, number of blocks"
    p = sub.add_parser("status", help=text, description=text)
    p.add_argument("hosts", nargs="*", metavar="HOST", help="hosts to read (default: all)")
    p.set_defaults(handler=cmd_status)
