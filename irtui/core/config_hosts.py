"""Adding hosts to a config file without rewriting the rest of it.

New ``[[hosts]]`` tables are appended to the file's text, so every comment and every other
table stays byte for byte; the result is validated as a whole before it is written
atomically.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from irtui.core.config import CONFIG_LIMITS, HOST_NAME_RE, parse_config, write_text_atomic
from irtui.core.errors import ConfigError, InvalidTargetError
from irtui.core.inventory import InventoryHost
from irtui.core.settings import machine_address
from irtui.core.textfile import TextFileError, read_text_file


@dataclass
class HostImport:
    """What importing hosts into a config would do.

    Attributes:
        path: the config file written (may not exist yet).
        added: the ``[[hosts]]`` tables to append, in inventory order.
        skipped: ``(host, reason)`` for hosts not added (already there, bad name...).
        text: the whole new file text.
    """

    path: Path
    added: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""


def _table(host: InventoryHost) -> dict[str, Any]:
    table: dict[str, Any] = {"name": host.name, "address": host.address or host.name}
    if host.port is not None:
        table["port"] = host.port
    if host.user:
        table["user"] = host.user
    if host.groups:
        table["groups"] = list(host.groups)
    return table


def _machine(address: object, port: object) -> tuple[str, object]:
    """The (address, port) one [[hosts]] entry reaches, normalised as
    :func:`~irtui.core.settings.same_machine` compares them."""
    return machine_address(str(address or "")), 22 if port is None else port


def plan_import(path: str | Path, hosts: Sequence[InventoryHost], source: str) -> HostImport:
    """Build the new text of the config at ``path`` with ``hosts`` appended.

    Hosts already in the config (same name) and hosts whose name irtui cannot use are
    skipped with the reason. The result is parsed and validated as a whole.

    Raises:
        ConfigError: the existing file is unreadable or invalid, or the result is invalid
            (every problem named).
    """
    target = Path(path)
    try:  # bounded, and a FIFO is refused before it is opened (open(2) would block)
        old = read_text_file(target, "config", CONFIG_LIMITS, "check the path given to "
                             "--config", pipes=False) if target.exists() else ""
    except TextFileError as exc:
        raise ConfigError([f"{exc.reason}; {exc.fix}"], str(target)) from None
    except InvalidTargetError as exc:
        raise ConfigError([f"cannot read it ({exc.problem})"], str(target)) from None
    try:
        tables = [h for h in tomllib.loads(old).get("hosts", []) if isinstance(h, dict)]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML ({exc})"], str(target)) from None
    existing = {str(h.get("name")) for h in tables}
    machines = {_machine(h.get("address"), h.get("port")): str(h.get("name")) for h in tables}
    plan = HostImport(target)
    for host in hosts:
        machine = _machine(host.address or host.name, host.port)
        if host.name in existing:
            plan.skipped.append((host.name, "already in the config"))
        elif machine in machines:  # one machine under two names: see settings.same_machine
            plan.skipped.append((host.name, f"same address and port as {machines[machine]}"))
        elif not HOST_NAME_RE.match(host.name) or host.name == "all":
            plan.skipped.append((host.name, "not a name irtui accepts (letters, digits, '.', "
                                 "'_', '-'; at most 63)"))
        else:
            plan.added.append(_table(host))
            existing.add(host.name)
            machines[machine] = host.name
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    addition = "" if not plan.added else (
        f"\n# {len(plan.added)} host(s) imported from {source} by `irtui hosts import` on "
        f"{stamp}\n" + "\n".join(f"[[hosts]]\n{tomli_w.dumps(t)}" for t in plan.added))
    # each table written as [[hosts]] itself: tomli_w writes short tables inline
    # (hosts = [...]), which TOML would put in the file's last table
    plan.text = (old if old.endswith("\n") or not old else old + "\n") + addition
    parse_config(tomllib.loads(plan.text), str(target))
    return plan


def write_import(plan: HostImport) -> None:
    """Write ``plan.text`` atomically (mode 0600)."""
    write_text_atomic(plan.path, plan.text)
